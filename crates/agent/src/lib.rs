//! The Neutrino host agent: a run loop ([`run`]) that lists its host's desired state from the
//! server, watches changes and sends heartbeats, for the drivers of its configured roles
//! ([`driver`], [`drivers`]). The `l2` driver ([`l2`]: [`reconcile`], [`vlan`])
//! converges Open vSwitch (bridges, patch and tunnel ports, flows) to the host's L2 section
//! idempotently and reports port up/down; [`flows`] generates the flow pipeline in layers
//! (local switching, firewall stages, physical networks, tunnels), each flow with its owner.
//! The `dhcp` driver ([`dhcp`]) serves each network of its section from a `qdhcp-` namespace
//! (dnsmasq, and the metadata proxy to [`metadata`] on isolated networks). The `l3` driver
//! ([`l3`]) runs each router of its section in a `qrouter-` namespace (forwarding, NAT and
//! floating IPs in one nftables table, the metadata proxy, router advertisements).

pub mod config;
pub mod control;
pub mod dhcp;
pub mod driver;
pub mod drivers;
pub mod flows;
pub mod l2;
pub mod l3;
pub mod metadata;
pub mod reconcile;
pub mod run;
pub mod units;
pub mod vlan;
