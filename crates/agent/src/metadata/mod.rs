//! The metadata service of the networks this host's DHCP agent serves (upstream's
//! `enable_isolated_metadata`): who may ask ([`Instances`], kept by the `dhcp` driver from its
//! section of the desired state) and, in the modules below, how a request is answered.

pub mod instances;

pub use instances::{Caller, Instances};
