//! [`FakeHost`], the stateful fake of every facility: namespaces with their links (peer,
//! namespace, addresses, MTU, up, offload), routes, sysctls and nftables tables, and processes
//! with pids and the signals they received — state to inspect, not a transcript of commands.
//! It refuses what the kernel and the tools refuse (names, missing or existing objects,
//! invalid nftables batches) with the same typed errors as [`crate::LinuxHost`], and leaves
//! its state unchanged when it refuses. One submodule per facility implements its trait.

mod links;
mod netns;
mod nft;
mod process;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use ipnet::IpNet;

use crate::command::{Cmd, CmdOutput};
use crate::error::{Error, Result, ns_label};
use crate::links::{LinkKind, Route};
use crate::nft::NftTable;
use crate::process::Signal;

/// A program handler for [`crate::Netns::run`] on the fake.
pub type RunHandler = Box<dyn Fn(&Cmd) -> CmdOutput + Send + Sync>;

/// The fake machine. Everything is behind one lock, so a sequence of calls from several
/// threads sees one consistent state.
#[derive(Default)]
pub struct FakeHost {
    state: Mutex<FakeState>,
    handlers: Mutex<Vec<(String, RunHandler)>>,
    spawn_refusals: Mutex<Vec<(String, String)>>,
}

impl std::fmt::Debug for FakeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHost").field("state", &*self.lock()).finish_non_exhaustive()
    }
}

/// Everything the fake machine holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeState {
    /// The root namespace (it starts with `lo`, up).
    pub root: FakeNetns,
    pub namespaces: BTreeMap<String, FakeNetns>,
    /// Every process started (or planted), also after it ended.
    pub processes: BTreeMap<u32, FakeProcess>,
    next_pid: u32,
    next_mac: u32,
    next_handle: u64,
    clock: u64,
}

impl Default for FakeState {
    fn default() -> Self {
        let mut root = FakeNetns::new();
        if let Some(lo) = root.links.get_mut("lo") {
            lo.up = true;
            lo.addresses = links::LOOPBACK.to_vec();
        }
        FakeState {
            root,
            namespaces: BTreeMap::new(),
            processes: BTreeMap::new(),
            next_pid: 1000,
            next_mac: 1,
            next_handle: 1,
            clock: 0,
        }
    }
}

/// One network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeNetns {
    pub links: BTreeMap<String, FakeLink>,
    pub routes: Vec<Route>,
    /// The sysctls written (reads of others answer the kernel's defaults).
    pub sysctls: BTreeMap<String, String>,
    /// Tables by `(family, name)`.
    pub nft: BTreeMap<(String, String), NftTable>,
}

impl FakeNetns {
    fn new() -> Self {
        let lo = FakeLink {
            kind: LinkKind::Loopback,
            mtu: 65536,
            mac: "00:00:00:00:00:00".into(),
            ..FakeLink::new()
        };
        FakeNetns {
            links: BTreeMap::from([("lo".to_string(), lo)]),
            routes: Vec::new(),
            sysctls: BTreeMap::new(),
            nft: BTreeMap::new(),
        }
    }

    /// Whether nothing was configured here beyond `lo` (up or down, with the kernel's
    /// addresses): no other link, no route, sysctl or nftables table.
    pub fn is_pristine(&self) -> bool {
        self.links.len() == 1
            && self.links.get("lo").is_some_and(|lo| lo.addresses.iter().all(|a| links::LOOPBACK.contains(a)))
            && self.routes.is_empty()
            && self.sysctls.is_empty()
            && self.nft.is_empty()
    }

    /// The table `family name`.
    pub fn table(&self, family: &str, name: &str) -> Option<&NftTable> {
        self.nft.get(&(family.to_string(), name.to_string()))
    }
}

/// One link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeLink {
    pub kind: LinkKind,
    /// The other end of a veth: its name and namespace (`None`: the root namespace).
    pub peer: Option<(String, Option<String>)>,
    pub up: bool,
    pub mtu: u32,
    pub mac: String,
    pub master: Option<String>,
    pub addresses: Vec<IpNet>,
    /// TX checksum offload (on, as the kernel makes a veth).
    pub tx_offload: bool,
}

impl FakeLink {
    fn new() -> Self {
        FakeLink {
            kind: LinkKind::Veth,
            peer: None,
            up: false,
            mtu: 1500,
            mac: String::new(),
            master: None,
            addresses: Vec::new(),
            tx_offload: true,
        }
    }

    /// The peer's namespace, when this is a veth.
    pub fn peer_netns(&self) -> Option<Option<&str>> {
        self.peer.as_ref().map(|(_, ns)| ns.as_deref())
    }

    /// The peer's name, when this is a veth.
    pub fn peer_name(&self) -> Option<&str> {
        self.peer.as_ref().map(|(name, _)| name.as_str())
    }
}

/// One process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeProcess {
    pub pid: u32,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub netns: Option<String>,
    pub pid_file: Option<PathBuf>,
    pub running: bool,
    /// Every signal it received, in order.
    pub signals: Vec<Signal>,
    /// When it ended, on the fake's clock (one tick per signal delivered): orders exits.
    pub ended_at: Option<u64>,
    /// Started through [`crate::Processes::spawn`] (not planted by a test).
    pub spawned: bool,
    /// It survives SIGTERM (only SIGKILL ends it).
    pub ignores_term: bool,
}

impl FakeProcess {
    /// The base name of `argv[0]`.
    pub fn program(&self) -> String {
        self.argv.first().map(|p| crate::process::program_name(p)).unwrap_or_default()
    }
}

impl FakeState {
    pub(crate) fn ns(&self, netns: Option<&str>) -> Result<&FakeNetns> {
        match netns {
            None => Ok(&self.root),
            Some(name) => self.namespaces.get(name).ok_or_else(|| Error::NoSuchNetns(name.into())),
        }
    }

    pub(crate) fn ns_mut(&mut self, netns: Option<&str>) -> Result<&mut FakeNetns> {
        match netns {
            None => Ok(&mut self.root),
            Some(name) => self.namespaces.get_mut(name).ok_or_else(|| Error::NoSuchNetns(name.into())),
        }
    }

    pub(crate) fn link(&self, netns: Option<&str>, name: &str) -> Result<&FakeLink> {
        self.ns(netns)?.links.get(name).ok_or_else(|| no_link(netns, name))
    }

    pub(crate) fn link_mut(&mut self, netns: Option<&str>, name: &str) -> Result<&mut FakeLink> {
        self.ns_mut(netns)?.links.get_mut(name).ok_or_else(|| no_link(netns, name))
    }

    /// A locally administered MAC, distinct per link.
    pub(crate) fn new_mac(&mut self) -> String {
        let n = self.next_mac;
        self.next_mac += 1;
        format!("02:00:00:{:02x}:{:02x}:{:02x}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
    }
}

pub(crate) fn no_link(netns: Option<&str>, name: &str) -> Error {
    Error::NoSuchLink { netns: ns_label(netns), link: name.into() }
}

impl FakeHost {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `f` to a copy of the state and keeps the copy only when `f` succeeds, so a
    /// refused call changes nothing.
    pub(crate) fn transact<T>(&self, f: impl FnOnce(&mut FakeState) -> Result<T>) -> Result<T> {
        let mut state = self.lock();
        let mut draft = state.clone();
        let out = f(&mut draft)?;
        *state = draft;
        Ok(out)
    }

    /// A snapshot of everything.
    pub fn state(&self) -> FakeState {
        self.lock().clone()
    }

    /// A snapshot of namespace `netns` (`None`: the root one), if it exists.
    pub fn netns(&self, netns: Option<&str>) -> Option<FakeNetns> {
        self.lock().ns(netns).ok().cloned()
    }

    /// A snapshot of link `name` in `netns`.
    pub fn link(&self, netns: Option<&str>, name: &str) -> Option<FakeLink> {
        self.lock().link(netns, name).ok().cloned()
    }

    /// A snapshot of process `pid`.
    pub fn process(&self, pid: u32) -> Option<FakeProcess> {
        self.lock().processes.get(&pid).cloned()
    }

    /// Every process (running or ended) whose program is `program`.
    pub fn processes_named(&self, program: &str) -> Vec<FakeProcess> {
        self.lock().processes.values().filter(|p| p.program() == program).cloned().collect()
    }

    /// A link that something else made (an Open vSwitch internal port appears in its host's
    /// namespace when the bridge is created), down, with offload on.
    pub fn add_external_link(&self, netns: Option<&str>, name: &str, kind: &str) -> Result<()> {
        crate::names::validate_ifname(name)?;
        self.transact(|s| {
            let mac = s.new_mac();
            let ns = s.ns_mut(netns)?;
            if ns.links.contains_key(name) {
                return Err(Error::LinkExists { netns: ns_label(netns), link: name.into() });
            }
            let link = FakeLink { kind: LinkKind::Other(kind.into()), mac, ..FakeLink::new() };
            ns.links.insert(name.into(), link);
            Ok(())
        })
    }

    /// A process this code did not start (another program on the machine), running.
    pub fn plant_process(&self, argv: &[&str], netns: Option<&str>) -> u32 {
        let mut s = self.lock();
        let pid = s.next_pid;
        s.next_pid += 1;
        let process = FakeProcess {
            pid,
            argv: argv.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            netns: netns.map(str::to_string),
            pid_file: None,
            running: true,
            signals: Vec::new(),
            ended_at: None,
            spawned: false,
            ignores_term: false,
        };
        s.processes.insert(pid, process);
        pid
    }

    /// Makes process `pid` survive SIGTERM (or not).
    pub fn set_ignores_term(&self, pid: u32, ignores: bool) {
        if let Some(p) = self.lock().processes.get_mut(&pid) {
            p.ignores_term = ignores;
        }
    }

    /// Ends process `pid` as a crash would (no signal recorded).
    pub fn crash(&self, pid: u32) {
        let mut s = self.lock();
        s.clock += 1;
        let now = s.clock;
        if let Some(p) = s.processes.get_mut(&pid).filter(|p| p.running) {
            p.running = false;
            p.ended_at = Some(now);
        }
    }

    /// Makes every later spawn of `program` fail as a launcher that exits 1 with `stderr`.
    pub fn refuse_spawn(&self, program: &str, stderr: &str) {
        self.spawn_refusals.lock().unwrap_or_else(|e| e.into_inner()).push((program.into(), stderr.into()));
    }

    /// Answers [`crate::Netns::run`] of `program` with `handler` (the fake models no
    /// arbitrary program: without a handler `run` is [`Error::Unsupported`]).
    pub fn on_run(&self, program: &str, handler: impl Fn(&Cmd) -> CmdOutput + Send + Sync + 'static) {
        self.handlers.lock().unwrap_or_else(|e| e.into_inner()).push((program.into(), Box::new(handler)));
    }
}
