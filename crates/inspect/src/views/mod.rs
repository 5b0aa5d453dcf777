//! The shell's views: each a pure function from what a host holds (parsed) and the API's objects
//! to a `Serialize` value (`-f json`) with its own text rendering.

pub mod topology;
