//! Services: one module per resource, holding the API's rules (validation that needs the
//! store, policy, IPAM). They see neither HTTP nor SQLite: a [`Store`] transaction and a
//! [`RequestContext`] in, model types or an [`ApiError`] out.

pub mod ipam;
pub mod networks;
pub mod policy;
pub mod ports;
pub mod query;
pub mod render;
pub mod subnets;
pub mod tags;

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

/// What every service call needs.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub config: Arc<Config>,
}

impl Services {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        Self { store, config }
    }
}

/// A page of a list: rendered items, and whether items follow it.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<serde_json::Map<String, serde_json::Value>>,
    pub more: bool,
}

/// `If-Match: revision_number=N`: the revision an update or delete is constrained to.
pub fn check_revision(wanted: Option<i64>, current: i64) -> Result<(), neutrino_model::ApiError> {
    match wanted {
        Some(w) if w != current => Err(neutrino_model::ApiError::revision_mismatch(w, current)),
        _ => Ok(()),
    }
}
