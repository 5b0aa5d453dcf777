//! Which driver plays each role: the registry the agent builds its drivers from. A role gets a
//! driver here (and a line in [`AVAILABLE`]) when its module exists.

use neutrino_model::agent::Role;

use crate::config::AgentConfig;
use crate::driver::{Driver, DriverError};
use crate::l2::L2Driver;

/// The roles this build has a driver for.
pub const AVAILABLE: &[Role] = &[Role::L2];

/// The drivers of the configured roles, connected to the host, in the configured order.
pub async fn build(cfg: &AgentConfig) -> Result<Vec<Box<dyn Driver>>, DriverError> {
    let mut out: Vec<Box<dyn Driver>> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for role in cfg.roles.iter().copied().filter(|r| seen.insert(*r)) {
        match role {
            Role::L2 => out.push(Box::new(L2Driver::connect(cfg).await?)),
            Role::L3 | Role::Dhcp => {
                return Err(DriverError::new(role, format!("no {role} driver in this build")));
            }
        }
    }
    Ok(out)
}
