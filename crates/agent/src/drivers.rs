//! Which driver plays each role: the registry the agent builds its drivers from. A role gets a
//! driver here (and a line in [`AVAILABLE`]) when its module exists.

use neutrino_model::agent::Role;

use crate::config::AgentConfig;
use crate::dhcp::DhcpDriver;
use crate::driver::{Driver, DriverError};
use crate::l2::L2Driver;
use crate::l3::L3Driver;
use crate::metadata::Instances;

/// The roles this build has a driver for.
pub const AVAILABLE: &[Role] = &[Role::L2, Role::Dhcp, Role::L3];

/// The drivers of the configured roles, connected to the host, in the configured order;
/// `instances` is the metadata service's table, which the `dhcp` driver (networks and ports)
/// and the `l3` driver (routers and their networks) keep.
pub async fn build(cfg: &AgentConfig, instances: &Instances) -> Result<Vec<Box<dyn Driver>>, DriverError> {
    let mut out: Vec<Box<dyn Driver>> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for role in cfg.roles.iter().copied().filter(|r| seen.insert(*r)) {
        match role {
            Role::L2 => out.push(Box::new(L2Driver::connect(cfg).await?)),
            Role::Dhcp => out.push(Box::new(DhcpDriver::connect(cfg, instances.clone()).await?)),
            Role::L3 => out.push(Box::new(L3Driver::connect(cfg, instances.clone()).await?)),
        }
    }
    Ok(out)
}
