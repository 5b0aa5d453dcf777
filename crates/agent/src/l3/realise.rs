//! One router converged whole (docs/design.md "Routers (agent)"): its namespace, devices and
//! routes ([`crate::l3::router`]), then its NAT table — left alone when the batch recorded in
//! its directory is the one wanted and the table is listed with its shape, changed by map
//! elements only when nothing but floating IPs changed, else applied whole — then the
//! gratuitous ARP of new floating addresses and the conntrack flush of the gone ones
//! ([`crate::l3::fip`]), the metadata proxy and radvd.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use neutrino_host::NftTable;
use neutrino_model::internal::RouterState;
use neutrino_ovs::vswitch::Vswitch;
use serde_json::Value;

use crate::dhcp::network::write_atomic;
use crate::l3::router::Cx;
use crate::l3::{L3Error, Paths, fip, namespace, nat, proxy, qg_name, radvd};

/// How the table was brought to what the router needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatAction {
    Unchanged,
    /// Only map elements were added and deleted.
    Elements,
    Whole,
}

/// Rules per chain of a batch.
fn batch_shape(batch: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in batch.get("nftables").and_then(Value::as_array).into_iter().flatten() {
        if let Some(name) = c.pointer("/add/chain/name").and_then(Value::as_str) {
            out.entry(name.to_string()).or_insert(0);
        }
        if let Some(chain) = c.pointer("/add/rule/chain").and_then(Value::as_str) {
            *out.entry(chain.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// Whether the listed table has the chains, rules per chain and floating IPs of `batch`
/// (so that a table changed under the agent is applied again).
fn listed_as(table: &NftTable, batch: &Value) -> bool {
    let shape: BTreeMap<String, usize> =
        table.chains.iter().map(|(n, c)| (n.clone(), c.rules.len())).collect();
    let fips = table.sets.get("fip_dnat").map(|s| s.elements.len());
    shape == batch_shape(batch) && fips == Some(nat::recorded_pairs(batch).len())
}

impl<V: Vswitch> Cx<'_, V> {
    /// Brings the router's table to `router`; returns what it did and the floating IPs the
    /// table held before.
    pub fn converge_nat(
        &self,
        ns: &str,
        paths: &Paths,
        router: &RouterState,
    ) -> Result<(NatAction, Vec<(Ipv4Addr, Ipv4Addr)>), L3Error> {
        let want = nat::ruleset(router, self.cfg.l3.metadata_port);
        let recorded: Option<Value> =
            std::fs::read_to_string(paths.nft()).ok().and_then(|t| serde_json::from_str(&t).ok());
        let old = recorded.as_ref().map(nat::recorded_pairs).unwrap_or_default();
        let listed = self.host.nft_table(Some(ns), nat::FAMILY, nat::TABLE)?;
        let intact = match (&listed, &recorded) {
            (Some(t), Some(r)) => listed_as(t, r),
            _ => false,
        };
        let action = match recorded {
            Some(r) if intact && r == want => NatAction::Unchanged,
            Some(r) if intact && nat::structure(&r) == nat::structure(&want) => {
                let batch = nat::element_batch(&old, &nat::fip_pairs(router));
                match batch.map(|b| self.host.nft_apply(Some(ns), &b)) {
                    None | Some(Ok(())) => NatAction::Elements,
                    // The maps are not what the record says: the whole table then.
                    Some(Err(e)) => {
                        tracing::warn!(router = %router.id, error = %e, "floating IP elements refused");
                        self.host.nft_apply(Some(ns), &want)?;
                        NatAction::Whole
                    }
                }
            }
            _ => {
                self.host.nft_apply(Some(ns), &want)?;
                NatAction::Whole
            }
        };
        if action != NatAction::Unchanged {
            write_atomic(&paths.nft(), &want.to_string())
                .map_err(|e| L3Error::router(&router.id, e.to_string()))?;
        }
        Ok((action, old))
    }

    /// Converges one router.
    pub async fn ensure(&self, router: &RouterState) -> Result<NatAction, L3Error> {
        let paths = Paths::new(&self.cfg.l3.state_path, &router.id);
        std::fs::create_dir_all(&paths.dir).map_err(|e| L3Error::io(&paths.dir, e))?;
        let ns = self.ensure_plumbing(router).await?;
        let (action, old) = self.converge_nat(&ns, &paths, router)?;
        let (announce, flush) = fip::changes(&old, &nat::fip_pairs(router));
        for address in flush {
            fip::flush(self.host, &self.cfg.l3, &ns, address);
        }
        if let Some(gw) = &router.gateway {
            let qg = qg_name(&gw.port.id);
            for address in announce {
                fip::announce(self.host, &self.cfg.l3, &paths, &ns, &qg, address);
            }
        }
        let conf = (!router.interfaces.is_empty()).then(|| {
            proxy::haproxy_config(
                &router.id,
                self.cfg.l3.metadata_port,
                &paths.haproxy_pid(),
                &self.cfg.dhcp.metadata_socket(),
            )
        });
        proxy::converge(self.host, &self.cfg.l3.haproxy, &paths, &ns, conf.as_deref())?;
        radvd::converge(self.host, &self.cfg.l3.radvd, &paths, &ns, router)?;
        Ok(action)
    }

    /// Whether the router's processes still run (a realised router needs no other check).
    pub fn running(&self, router: &RouterState) -> bool {
        let ns = namespace(&self.cfg.namespace_prefix, &router.id);
        let paths = Paths::new(&self.cfg.l3.state_path, &router.id);
        let l3 = &self.cfg.l3;
        let haproxy = router.interfaces.is_empty()
            || proxy::running(self.host, &l3.haproxy, &paths, &ns).ok().flatten().is_some();
        let radvd = radvd::radvd_config(router).is_none()
            || radvd::running(self.host, &l3.radvd, &paths, &ns).ok().flatten().is_some();
        haproxy && radvd
    }
}
