//! The shell's views: each a pure function from what was read (parsed host output and the
//! API's [`crate::cloud::Cloud`]) to a serialisable value (`-f json`) with a `render` method
//! (the plain table of [`plain`]).

pub mod dump;
pub mod flowmod;
pub mod ipt;
pub mod leases;
pub mod list;
pub mod ns;
pub mod plain;
pub mod query;
pub mod show;
pub mod switch;
pub mod topology;
