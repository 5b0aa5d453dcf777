//! Services: one module per resource, holding the API's rules (validation that needs the
//! store, policy, IPAM). They see no HTTP and write no SQL: they call the typed functions of
//! [`crate::store`] inside a [`Store`] transaction, take a
//! [`RequestContext`](crate::context::RequestContext), and return model types (`Network`,
//! `Subnet`, `Port`, a [`Page`] of them) or an [`ApiError`](neutrino_model::ApiError); the HTTP
//! layer renders those to the wire.

pub mod agents;
pub mod binding;
pub mod dhcp;
pub mod dhcp_agents;
pub mod dhcp_state;
pub mod firewall;
pub mod floatingips;
pub mod internal;
pub mod ipam;
pub mod l3;
pub mod l3_agents;
pub mod l3_state;
pub mod networks;
pub mod policy;
pub mod port_security;
pub mod ports;
pub mod query;
pub mod quotas;
pub mod router_interfaces;
pub mod routers;
pub mod security_group_rules;
pub mod security_groups;
pub mod subnets;
pub mod tags;

use std::sync::Arc;

use crate::config::Config;
use crate::ml2::{Ml2, config::Ml2ConfigError};
use crate::store::Store;

/// What every service call needs.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub config: Arc<Config>,
    pub ml2: Arc<Ml2>,
    /// Ticks after every write that recorded a change, waking agents' watches.
    pub feed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Services {
    pub fn new(store: Store, config: Arc<Config>) -> Result<Self, Ml2ConfigError> {
        let ml2 = Ml2::new(config.ml2.clone(), config.server.global_physnet_mtu)?;
        let (feed, _) = tokio::sync::watch::channel(0);
        Ok(Self { store, config, ml2: Arc::new(ml2), feed: Arc::new(feed) })
    }

    /// Wakes the agents' watches: the change feed has new rows.
    pub fn changed(&self) {
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Seconds after which an agent without heartbeat is dead.
    pub fn agent_down_time(&self) -> i64 {
        i64::try_from(self.config.ml2.agent_down_time).unwrap_or(i64::MAX)
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A page of a list: the items the caller may see, and whether items follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Page<T> {
    /// The same page with each item mapped (e.g. to its wire form).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), more: self.more }
    }
}

/// `If-Match: revision_number=N`: the revision an update or delete is constrained to.
pub fn check_revision(wanted: Option<i64>, current: i64) -> Result<(), neutrino_model::ApiError> {
    match wanted {
        Some(w) if w != current => Err(neutrino_model::ApiError::revision_mismatch(w, current)),
        _ => Ok(()),
    }
}
