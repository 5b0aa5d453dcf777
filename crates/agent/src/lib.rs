//! The Neutrino host agent (the `l2` role): it lists its host's desired state from the server,
//! watches changes, and converges Open vSwitch (bridges, patch and tunnel ports, VM port tags,
//! flows) to it idempotently, reporting heartbeats and port up/down.

pub mod config;
pub mod control;
pub mod flows;
pub mod reconcile;
pub mod run;
pub mod vlan;
