//! ML2: type drivers (segments), the `openvswitch` mechanism driver (port binding) and their
//! configuration, following upstream's `neutron/plugins/ml2`.

pub mod binding;
pub mod config;
pub mod segments;

pub use config::Ml2Config;
pub use segments::Ml2;
