//! Host facilities behind traits, each with a real implementation ([`LinuxHost`]) and a
//! stateful fake ([`FakeHost`]): network namespaces ([`Netns`]), links with their addresses,
//! routes and sysctls ([`Links`]), nftables batches ([`Nftables`]) and processes with pid
//! files and signals ([`Processes`]). [`Host`] is all four, for code that needs a machine.
//! This crate knows nothing about tenants; callers choose names and addresses.
//!
//! ```
//! use neutrino_host::{FakeHost, Links, Netns};
//! let host = FakeHost::new();
//! host.add_netns("qdhcp-1")?;
//! host.add_veth(None, "tap1", Some("qdhcp-1"), "ns-1")?;
//! host.set_tx_offload(Some("qdhcp-1"), "ns-1", false)?;
//! let ns1 = host.link(Some("qdhcp-1"), "ns-1").unwrap();
//! assert_eq!((ns1.peer_name(), ns1.tx_offload), (Some("tap1"), false));
//! # Ok::<(), neutrino_host::Error>(())
//! ```

pub mod command;
mod error;
pub mod fake;
pub mod links;
mod linux;
pub mod names;
pub mod netns;
pub mod nft;
pub mod process;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use command::{Cmd, CmdOutput, resolve_program};
pub use error::{Error, Result};
pub use fake::{FakeHost, FakeLink, FakeNetns, FakeProcess, FakeState};
pub use links::{LinkInfo, LinkKind, Links, Route};
pub use linux::LinuxHost;
pub use names::MAX_IFNAME;
pub use netns::Netns;
pub use nft::{NftChain, NftRule, NftSet, NftTable, Nftables};
pub use process::{Process, Processes, Signal, Spawn};

/// Every facility: what code that works on a machine takes (`Arc<dyn Host>`).
pub trait Host: Netns + Links + Nftables + Processes {}

impl<T: Netns + Links + Nftables + Processes> Host for T {}
