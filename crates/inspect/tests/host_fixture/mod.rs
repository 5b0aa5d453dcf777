//! The fixed host of the `list`, `show` and `query` snapshot tests: compute-1's switch as a
//! private Open vSwitch 3.1 recorded it (tests/fixtures/host, see its README) and the API's
//! objects of tests/fixtures/cloud.json.

#![allow(dead_code, reason = "each test file uses part of the fixture")]

use std::collections::BTreeMap;

use neutrino_inspect::cloud::Cloud;
use neutrino_inspect::parse::{DumpedFlow, parse_dump};
use neutrino_inspect::source::{FakeHost, HostSource};
use neutrino_inspect::views::switch::Switch;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

pub const BRIDGES: [&str; 3] = ["br-int", "br-phys", "br-tun"];

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn host() -> FakeHost {
    let mut h = FakeHost::new("compute-1");
    for t in ["Open_vSwitch", "Bridge", "Port", "Interface", "Controller"] {
        h.ovsdb.insert(t.to_string(), read(&format!("host/{t}.json")));
    }
    for b in BRIDGES {
        h.set_flows(b, &read(&format!("host/{b}.flows.txt")));
    }
    h.leases.insert("1b7e4c2a-6f0d-4e8a-9c3b-2d5f7a9e0c11".into(), read("host/web-net.leases"));
    h
}

pub fn cloud() -> Cloud {
    Cloud::from_json(&read("cloud.json")).unwrap()
}

pub fn switch(h: &FakeHost) -> Switch {
    Switch::read(h).unwrap()
}

pub fn flows(h: &FakeHost, bridge: &str) -> Vec<DumpedFlow> {
    parse_dump(&h.dump_flows(bridge).unwrap()).unwrap()
}

pub fn all_flows(h: &FakeHost) -> BTreeMap<String, Vec<DumpedFlow>> {
    BRIDGES.iter().map(|b| (b.to_string(), flows(h, b))).collect()
}
