//! The Neutrino API server: the Networking API v2.0 over HTTP (routes → auth/policy →
//! services → store), the builtin identity service, IPAM and the SQLite store.

pub mod auth;
pub mod config;
pub mod context;
pub mod http;
pub mod ml2;
pub mod run;
pub mod service;
pub mod store;
