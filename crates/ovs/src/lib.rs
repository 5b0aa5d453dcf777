//! Open vSwitch building blocks for the agent, knowing nothing about tenants: a native OVSDB
//! client ([`ovsdb`], RFC 7047), typed Open_vSwitch database helpers ([`vswitch`]), a flow
//! model with `ovs-ofctl` text and diffing ([`flow`]), OpenFlow groups ([`group`]), atomic flow programming ([`ofctl`])
//! and the userspace datapath's connection tracker ([`conntrack`]).

pub mod conntrack;
pub mod flow;
pub mod group;
pub mod ofctl;
pub mod ovsdb;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vswitch;

pub use conntrack::{Conntrack, CtEntry, FakeConntrack, OvsConntrack};
pub use flow::{Flow, FlowDelta, FlowParseError, diff};
pub use group::{Group, GroupMod, diff_groups};
pub use ofctl::{FakeFlowProgrammer, FlowProgrammer, OfctlError, OvsOfctl};
pub use ovsdb::{Client, OvsdbError, RowUpdate, TableUpdates};
pub use vswitch::{
    EventKind, FakeVswitch, InterfaceEvent, OvsVswitch, PortInfo, PortSpec, Vswitch, VswitchError,
};
