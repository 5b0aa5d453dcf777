//! Neutrino's API model: the Networking API v2.0 resources (networks, subnets, ports), their
//! attribute maps and validation, and the `NeutronError` type. No I/O happens here.

pub mod agent;
pub mod attrs;
pub mod common;
pub mod convert;
pub mod error;
pub mod extra_dhcp_opt;
pub mod floatingip;
pub mod internal;
pub mod ip;
pub mod network;
pub mod network_type;
pub mod port;
pub mod port_security;
pub mod router;
pub mod security_group;
pub mod subnet;

pub use error::{ApiError, ApiResult};
pub use network_type::NetworkType;
