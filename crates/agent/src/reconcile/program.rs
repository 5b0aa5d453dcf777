//! How the reconciler sends flows (docs/design.md "From an API call to a flow", step 8): all of
//! them after a dump when the installed state is unknown, otherwise only the units whose
//! inputs changed, compared unit by unit; one bundle per bridge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use neutrino_ovs::flow::{FlowDelta, diff};
use neutrino_ovs::group::{Group, diff_groups};
use neutrino_ovs::ofctl::FlowProgrammer;
use neutrino_ovs::vswitch::Vswitch;

use super::{CT_SWEEP_WINDOW, InstalledGroups, Reconciler, SyncError};
use crate::flows::{
    self,
    units::{Unit, UnitKey, Units},
};

impl<V: Vswitch, P: FlowProgrammer> Reconciler<V, P> {
    /// Programs every bridge from the units after a dump of what it holds (the first sync, or
    /// after the installed state became unknown). Returns the groups now installed per bridge.
    pub(super) async fn program_all(
        &mut self,
        units: &Units,
        started: std::time::Instant,
    ) -> Result<InstalledGroups, SyncError> {
        let set = flows::flatten(&self.cfg.integration_bridge, units);
        self.owners = set
            .bridges
            .get(&self.cfg.integration_bridge)
            .into_iter()
            .flatten()
            .map(|o| (o.flow.key(), o.owner.clone()))
            .collect();
        let mut want_groups = set.groups();
        let mut out = InstalledGroups::new();
        for (bridge, flows) in set.into_flows() {
            let prefetched = match bridge == self.cfg.integration_bridge {
                true => self.prefetched.take(),
                false => None,
            };
            let have = match prefetched {
                Some(flows) => flows,
                None => self.ofctl.dump(&bridge, Some(self.cookie)).await?,
            };
            let groups = want_groups.remove(&bridge);
            let have_groups = match groups.is_some() {
                true => self.ofctl.dump_groups(&bridge).await?,
                false => vec![],
            };
            let groups = groups.unwrap_or_default();
            let mut delta = diff(&flows, &have, self.cookie);
            delta.groups = diff_groups(&groups, &have_groups);
            self.apply_delta(&bridge, &delta, started).await?;
            out.insert(bridge, groups);
        }
        Ok(out)
    }

    /// Programs only what changed since the last sync: the units whose inputs changed (by
    /// their flows' keys) and `br-int`'s groups, one bundle per bridge.
    pub(super) async fn program_changes(
        &mut self,
        units: &Units,
        mut installed: InstalledGroups,
        started: std::time::Instant,
    ) -> Result<InstalledGroups, SyncError> {
        let int = self.cfg.integration_bridge.clone();
        let empty = Unit::default();
        let keys: BTreeSet<&UnitKey> = self.units.keys().chain(units.keys()).collect();
        let mut changed: Vec<(&Unit, &Unit)> = vec![];
        for k in keys {
            let (old, new) = (self.units.get(k), units.get(k));
            if let (Some(a), Some(b)) = (old, new)
                && Arc::ptr_eq(a, b)
            {
                continue;
            }
            changed.push((old.map_or(&empty, |u| u.as_ref()), new.map_or(&empty, |u| u.as_ref())));
        }
        let mut deltas: BTreeMap<String, FlowDelta> = BTreeMap::new();
        for (old, new) in &changed {
            let bridges: BTreeSet<&String> = old.flows.keys().chain(new.flows.keys()).collect();
            for b in bridges {
                let d = diff(&new.flows_of(b), &old.flows_of(b), self.cookie);
                let e = deltas.entry(b.clone()).or_default();
                e.add.extend(d.add);
                e.delete.extend(d.delete);
            }
        }
        // Owners: a key that moved between units ends with its new owner.
        for (old, _) in &changed {
            for o in old.flows.get(&int).into_iter().flatten() {
                self.owners.remove(&o.flow.key());
            }
        }
        for (_, new) in &changed {
            for o in new.flows.get(&int).into_iter().flatten() {
                self.owners.insert(o.flow.key(), o.owner.clone());
            }
        }
        let mut want: Vec<Group> =
            units.values().flat_map(|u| u.groups.iter().map(|g| g.group.clone())).collect();
        want.sort_by_key(|g| g.id);
        let group_mods = diff_groups(&want, installed.get(&int).map(Vec::as_slice).unwrap_or_default());
        if !group_mods.is_empty() {
            deltas.entry(int.clone()).or_default().groups = group_mods;
        }
        for (bridge, delta) in &deltas {
            self.apply_delta(bridge, delta, started).await?;
        }
        installed.insert(int, want);
        Ok(installed)
    }

    /// Sends one bridge's delta as one bundle (nothing when it is empty).
    async fn apply_delta(
        &mut self,
        bridge: &str,
        delta: &FlowDelta,
        started: std::time::Instant,
    ) -> Result<(), SyncError> {
        if delta.is_empty() {
            return Ok(());
        }
        if bridge == self.cfg.integration_bridge
            && delta.delete.iter().any(|f| flows::firewall::is_rule_table(f.table))
        {
            self.sweep_until = Some(Instant::now() + CT_SWEEP_WINDOW);
        }
        let computed = started.elapsed();
        let applying = std::time::Instant::now();
        self.ofctl.apply(bridge, delta).await?;
        tracing::debug!(
            bridge = %bridge,
            add = delta.add.len(),
            delete = delta.delete.len(),
            group_mods = delta.groups.len(),
            since_sync_start_us = u64::try_from(computed.as_micros()).unwrap_or(u64::MAX),
            apply_us = u64::try_from(applying.elapsed().as_micros()).unwrap_or(u64::MAX),
            "applied a bundle"
        );
        Ok(())
    }
}
