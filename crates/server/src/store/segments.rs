//! Rows of the `segment_allocations` table: the segment ids (VLAN ids, tunnel ids, a flat
//! network's physical network as id 0) held by networks, unique per type, physical network
//! (empty for tunnels) and id, so that a double allocation is impossible.

use neutrino_model::NetworkType;

use super::{Sql, StoreError};

/// Whether segment `id` of type `t` on `physnet` is held.
pub fn taken(sql: &mut dyn Sql, t: NetworkType, physnet: &str, id: u32) -> Result<bool, StoreError> {
    Ok(!sql
        .query(
            "SELECT 1 FROM segment_allocations WHERE network_type = ? AND physical_network = ? AND segmentation_id = ?",
            &[t.as_str().into(), physnet.into(), i64::from(id).into()],
        )?
        .is_empty())
}

/// Records that `network_id` holds segment `id` of type `t` on `physnet`.
pub fn reserve(
    sql: &mut dyn Sql,
    t: NetworkType,
    physnet: &str,
    id: u32,
    network_id: &str,
) -> Result<(), StoreError> {
    sql.execute(
        "INSERT INTO segment_allocations (network_type, physical_network, segmentation_id, network_id) VALUES (?, ?, ?, ?)",
        &[t.as_str().into(), physnet.into(), i64::from(id).into(), network_id.into()],
    )?;
    Ok(())
}

/// The lowest id of `[lo, hi]` of type `t` on `physnet` that no network holds.
pub fn first_free(
    sql: &mut dyn Sql,
    t: NetworkType,
    physnet: &str,
    lo: u32,
    hi: u32,
) -> Result<Option<u32>, StoreError> {
    let rows = sql.query(
        "SELECT segmentation_id FROM segment_allocations WHERE network_type = ? AND physical_network = ? \
         AND segmentation_id >= ? AND segmentation_id <= ? ORDER BY segmentation_id",
        &[t.as_str().into(), physnet.into(), i64::from(lo).into(), i64::from(hi).into()],
    )?;
    let mut next = u64::from(lo);
    for r in rows {
        let used = u64::try_from(r[0].int()).unwrap_or(0);
        if used > next {
            break;
        }
        if used == next {
            next += 1;
        }
    }
    Ok((next <= u64::from(hi)).then(|| u32::try_from(next).unwrap_or(u32::MAX)))
}

/// Frees the segment ids `network_id` held.
pub fn release(sql: &mut dyn Sql, network_id: &str) -> Result<(), StoreError> {
    sql.execute("DELETE FROM segment_allocations WHERE network_id = ?", &[network_id.into()])?;
    Ok(())
}
