//! The metadata service of the networks this host's DHCP agent serves (upstream's
//! `enable_isolated_metadata` with `neutron-metadata-agent`): who may ask ([`Instances`], kept
//! by the `dhcp` driver from its section of the desired state), how a caller is identified
//! ([`identify`]), the HTTP service on a unix socket behind each network's haproxy
//! ([`service`]; the haproxy in front of it: [`proxy`]), and the answers: forwarded to Nova ([`nova`]) or, without one, Neutrino's
//! own ([`answers`], [`network_data`]). Configured by `[metadata]` ([`config`]).

pub mod answers;
pub mod config;
pub mod identify;
pub mod instances;
pub mod network_data;
pub mod nova;
pub mod proxy;
pub mod reply;
pub mod service;

pub use config::MetadataConfig;
pub use instances::{Caller, Instances};
pub use service::{MetadataError, MetadataServer, bind, serve, spawn};
