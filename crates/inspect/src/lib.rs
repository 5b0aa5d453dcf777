//! The operator's inspection shell as a library, in the spirit of EasyOVS: what a host's Open
//! vSwitch, namespaces and nftables hold, joined with the API's objects, as views (`list`,
//! `show`, `dump`, `ipt`, `ns`, `query`, `trace`, `topology`) that are plain data rendered as
//! tables or JSON. Everything is read through [`source::HostSource`] (a real host, or a fake of
//! fixed inputs for the snapshot tests) and [`cloud::Cloud`] (the API's objects); nothing is
//! changed except by `addflow`/`delflow`.

pub mod cloud;
pub mod error;
pub mod inventory;
pub mod owners;
pub mod parse;
pub mod source;
pub mod trace;
pub mod views;

pub use error::InspectError;
