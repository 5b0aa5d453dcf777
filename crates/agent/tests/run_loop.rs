//! Tier-2 tests of the agent's run loop (docs/design.md "Agent: drivers and roles") on the stateful fake
//! control plane, with fake drivers that record what they were asked to converge. Time is
//! tokio's paused clock: waits are virtual and the tests deterministic, and nothing asserts a
//! duration — only what the agent did and what the server received.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use neutrino_agent::control::fake::FakeControlPlane;
use neutrino_agent::driver::{BoxFuture, Driver, DriverError, StatusChanges, Wake};
use neutrino_agent::run::{AgentError, LoopOptions, serve};
use neutrino_model::NetworkType;
use neutrino_model::agent::Role;
use neutrino_model::internal::{Delta, HostState, L2Delta, NetworkState, PortState};
use serde_json::{Value, json};
use tokio::sync::watch;

const HOST: &str = "host-a";
const INTERVAL: Duration = Duration::from_secs(10);

/// What a fake driver saw and did.
#[derive(Debug, Default)]
struct Record {
    loads: usize,
    applies: usize,
    /// The desired ports at each sync, in order.
    converged: Vec<Vec<String>>,
    wake: Option<Wake>,
}

/// A driver that converges nothing but records its desired ports; with the `l2` role it reads
/// the `l2` section, and it reports each new desired port up once.
struct FakeDriver {
    role: Role,
    desired: BTreeSet<String>,
    up: BTreeSet<String>,
    sync_delay: Option<Duration>,
    fail_sync: bool,
    rec: Arc<Mutex<Record>>,
}

impl FakeDriver {
    fn new(role: Role) -> (Self, Arc<Mutex<Record>>) {
        let rec = Arc::new(Mutex::new(Record::default()));
        let d = FakeDriver {
            role,
            desired: BTreeSet::new(),
            up: BTreeSet::new(),
            sync_delay: None,
            fail_sync: false,
            rec: rec.clone(),
        };
        (d, rec)
    }
}

impl Driver for FakeDriver {
    fn role(&self) -> Role {
        self.role
    }

    fn start(&mut self, wake: Wake) -> BoxFuture<'_, Result<(), DriverError>> {
        self.rec.lock().unwrap().wake = Some(wake);
        Box::pin(async { Ok(()) })
    }

    fn load(&mut self, state: &mut HostState) {
        self.rec.lock().unwrap().loads += 1;
        if self.role == Role::L2 {
            self.desired = std::mem::take(&mut state.l2.ports).into_iter().map(|p| p.id).collect();
        }
    }

    fn apply(&mut self, delta: &mut Delta) {
        self.rec.lock().unwrap().applies += 1;
        if self.role == Role::L2 {
            let l2 = std::mem::take(&mut delta.l2);
            for id in l2.removed_ports {
                self.desired.remove(&id);
            }
            self.desired.extend(l2.ports.into_iter().map(|p| p.id));
        }
    }

    fn sync(&mut self) -> BoxFuture<'_, Result<StatusChanges, DriverError>> {
        Box::pin(async move {
            if let Some(d) = self.sync_delay {
                tokio::time::sleep(d).await;
            }
            if self.fail_sync {
                return Err(DriverError::new(self.role, "the host is on fire"));
            }
            self.rec.lock().unwrap().converged.push(self.desired.iter().cloned().collect());
            let up: Vec<String> = self.desired.difference(&self.up).cloned().collect();
            self.up = self.desired.clone();
            Ok(StatusChanges { up, ..Default::default() })
        })
    }

    fn retry_status(&mut self, changes: &StatusChanges) {
        for id in &changes.up {
            self.up.remove(id);
        }
    }

    fn configurations(&self) -> Value {
        json!({"role": self.role.as_str()})
    }
}

fn port(id: &str) -> PortState {
    PortState {
        id: id.into(),
        network_id: "net-1".into(),
        mac_address: "fa:16:3e:00:00:01".into(),
        fixed_ips: vec![],
        admin_state_up: true,
        device_owner: "compute:nova".into(),
        device_id: "vm-1".into(),
        port_security_enabled: true,
        security_groups: vec![],
        allowed_address_pairs: vec![],
    }
}

fn added(ids: &[&str]) -> L2Delta {
    let networks = vec![NetworkState {
        id: "net-1".into(),
        network_type: NetworkType::Vxlan,
        physical_network: None,
        segmentation_id: Some(100),
        mtu: 1450,
        admin_state_up: true,
    }];
    L2Delta { ports: ids.iter().map(|i| port(i)).collect(), networks, ..Default::default() }
}

fn removed(ids: &[&str]) -> L2Delta {
    L2Delta { removed_ports: ids.iter().map(|s| s.to_string()).collect(), ..Default::default() }
}

/// A run loop serving `drivers` against `cp`, in a task.
struct Running {
    _stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), AgentError>>,
}

fn start(cp: &FakeControlPlane, mut drivers: Vec<Box<dyn Driver>>) -> Running {
    let (stop, mut rx) = watch::channel(false);
    let cp = cp.clone();
    let task = tokio::spawn(async move {
        let opts = LoopOptions::new(HOST, INTERVAL);
        serve(cp, &opts, &mut drivers, &mut rx).await
    });
    Running { _stop: stop, task }
}

/// Lets every task run that can without the clock moving, then moves it by `d`.
async fn pass(d: Duration) {
    tokio::time::sleep(d).await;
}

fn last(rec: &Arc<Mutex<Record>>) -> Option<Vec<String>> {
    rec.lock().unwrap().converged.last().cloned()
}

fn ids(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

/// All ports reported up, in order.
fn reported_up(cp: &FakeControlPlane) -> Vec<String> {
    cp.status_reports().into_iter().flat_map(|r| r.up).collect()
}

#[tokio::test(start_paused = true)]
async fn the_first_listing_is_converged_and_its_ports_reported_up() {
    let cp = FakeControlPlane::new();
    cp.publish(HOST, added(&["p1"]));
    cp.publish("host-b", added(&["elsewhere"]));
    let (d, rec) = FakeDriver::new(Role::L2);
    let _run = start(&cp, vec![Box::new(d)]);
    pass(Duration::from_millis(1)).await;
    assert_eq!(last(&rec), ids(&["p1"]));
    assert_eq!(reported_up(&cp), vec!["p1"]);
    assert!(cp.status_reports().iter().all(|r| r.host == HOST));
    let beats = cp.heartbeats();
    assert_eq!(beats.len(), 1);
    assert!(beats[0].start_flag);
    assert_eq!((beats[0].host.as_str(), beats[0].binary.as_str()), (HOST, "neutron-openvswitch-agent"));
}

#[tokio::test(start_paused = true)]
async fn a_watch_gap_leads_to_a_full_list() {
    let cp = FakeControlPlane::new();
    cp.publish(HOST, added(&["p1"]));
    let (d, rec) = FakeDriver::new(Role::L2);
    let _run = start(&cp, vec![Box::new(d)]);
    pass(Duration::from_millis(1)).await;
    assert_eq!(cp.host_state_calls(), 1);

    // Positive control: a change the log still holds arrives as a delta, without a listing.
    cp.publish(HOST, added(&["p2"]));
    pass(Duration::from_millis(1)).await;
    assert_eq!(last(&rec), ids(&["p1", "p2"]));
    assert_eq!((cp.host_state_calls(), rec.lock().unwrap().applies), (1, 1));

    // The log loses a change before the agent saw it: the watch says resync, the agent lists.
    cp.publish(HOST, added(&["p3"]));
    cp.publish(HOST, removed(&["p1"]));
    cp.truncate_log();
    pass(Duration::from_millis(1)).await;
    assert_eq!(cp.host_state_calls(), 2, "a gap must lead to a full listing");
    assert_eq!(rec.lock().unwrap().loads, 2);
    assert_eq!(last(&rec), ids(&["p2", "p3"]));
    assert_eq!(reported_up(&cp), vec!["p1", "p2", "p3"]);
}

#[tokio::test(start_paused = true)]
async fn a_server_restart_leads_to_a_full_list() {
    let cp = FakeControlPlane::new();
    cp.publish(HOST, added(&["p1"]));
    let (d, rec) = FakeDriver::new(Role::L2);
    let _run = start(&cp, vec![Box::new(d)]);
    pass(Duration::from_millis(1)).await;

    // The server restarts (its watch connections break, its change log is gone) and takes a
    // write before the agent is back.
    cp.restart();
    cp.publish(HOST, added(&["p2"]));
    pass(Duration::from_secs(5)).await;
    assert_eq!(cp.host_state_calls(), 2);
    assert_eq!(rec.lock().unwrap().loads, 2);
    assert_eq!(last(&rec), ids(&["p1", "p2"]));

    // After that, deltas again.
    cp.publish(HOST, added(&["p3"]));
    pass(Duration::from_millis(1)).await;
    assert_eq!(cp.host_state_calls(), 2);
    assert_eq!(last(&rec), ids(&["p1", "p2", "p3"]));
}

#[tokio::test(start_paused = true)]
async fn a_server_down_for_a_while_is_caught_up_when_it_comes_back() {
    let cp = FakeControlPlane::new();
    cp.publish(HOST, added(&["p1"]));
    let (d, rec) = FakeDriver::new(Role::L2);
    let _run = start(&cp, vec![Box::new(d)]);
    pass(Duration::from_millis(1)).await;
    let beats_before = cp.heartbeats().len();

    cp.set_down(true);
    cp.publish(HOST, added(&["p2"]));
    cp.publish(HOST, removed(&["p1"]));
    pass(Duration::from_secs(120)).await;
    assert_eq!(last(&rec), ids(&["p1"]), "nothing can be learnt from a server that is down");
    assert_eq!(cp.heartbeats().len(), beats_before, "heartbeats cannot reach it");

    cp.set_down(false);
    pass(Duration::from_secs(15)).await;
    assert_eq!(last(&rec), ids(&["p2"]), "the agent caught up with the changes");
    assert_eq!(reported_up(&cp), vec!["p1", "p2"]);
    assert!(cp.heartbeats().len() > beats_before, "heartbeats resumed");
    // It keeps following: a later change arrives too.
    cp.publish(HOST, added(&["p3"]));
    pass(Duration::from_millis(1)).await;
    assert_eq!(last(&rec), ids(&["p2", "p3"]));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_going_while_a_listing_is_slow() {
    let cp = FakeControlPlane::new();
    cp.publish(HOST, added(&["p1"]));
    cp.set_host_state_delay(Some(Duration::from_secs(300)));
    let (d, rec) = FakeDriver::new(Role::L2);
    let _run = start(&cp, vec![Box::new(d)]);

    pass(Duration::from_secs(100)).await;
    assert_eq!(last(&rec), None, "the first listing is still under way");
    let beats = cp.heartbeats().len();
    assert!(beats >= 6, "only {beats} heartbeats during a 100 s listing with a 10 s interval");

    pass(Duration::from_secs(250)).await;
    assert_eq!(last(&rec), ids(&["p1"]));

    // A slow listing after a gap does not stop them either.
    cp.publish(HOST, added(&["p2"]));
    cp.truncate_log();
    let beats = cp.heartbeats().len();
    pass(Duration::from_secs(100)).await;
    assert_eq!(last(&rec), ids(&["p1"]));
    assert!(cp.heartbeats().len() >= beats + 6);
    pass(Duration::from_secs(250)).await;
    assert_eq!(last(&rec), ids(&["p1", "p2"]));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_going_while_a_driver_sync_is_slow() {
    let cp = FakeControlPlane::new();
    cp.publish(HOST, added(&["p1"]));
    let (mut d, rec) = FakeDriver::new(Role::L2);
    d.sync_delay = Some(Duration::from_secs(200));
    let _run = start(&cp, vec![Box::new(d)]);
    pass(Duration::from_secs(100)).await;
    assert_eq!(last(&rec), None);
    assert!(cp.heartbeats().len() >= 6);
    pass(Duration::from_secs(150)).await;
    assert_eq!(last(&rec), ids(&["p1"]));
}

#[tokio::test(start_paused = true)]
async fn each_role_heartbeats_as_its_upstream_agent() {
    let cp = FakeControlPlane::new();
    let (l2, _) = FakeDriver::new(Role::L2);
    let (dhcp, _) = FakeDriver::new(Role::Dhcp);
    let _run = start(&cp, vec![Box::new(l2), Box::new(dhcp)]);
    pass(Duration::from_millis(1)).await;
    let row = |r: &neutrino_model::internal::Report| {
        (r.agent_type.clone(), r.binary.clone(), r.configurations.clone(), r.start_flag)
    };
    let start: Vec<_> = cp.heartbeats().iter().map(row).collect();
    assert_eq!(
        start,
        vec![
            ("Open vSwitch agent".into(), "neutron-openvswitch-agent".into(), json!({"role": "l2"}), true),
            ("DHCP agent".into(), "neutron-dhcp-agent".into(), json!({"role": "dhcp"}), true),
        ]
    );
    pass(INTERVAL).await;
    let later: Vec<_> = cp.heartbeats().iter().skip(2).map(row).collect();
    assert_eq!(later.len(), 2, "{later:?}");
    assert_eq!((later[0].0.as_str(), later[0].3), ("Open vSwitch agent", false));
    assert_eq!((later[1].0.as_str(), later[1].3), ("DHCP agent", false));
}

#[tokio::test(start_paused = true)]
async fn a_wake_up_syncs_its_driver_and_a_delta_syncs_all() {
    let cp = FakeControlPlane::new();
    let (l2, rec_l2) = FakeDriver::new(Role::L2);
    let (dhcp, rec_dhcp) = FakeDriver::new(Role::Dhcp);
    let _run = start(&cp, vec![Box::new(l2), Box::new(dhcp)]);
    pass(Duration::from_millis(1)).await;
    let syncs = |r: &Arc<Mutex<Record>>| r.lock().unwrap().converged.len();
    assert_eq!((syncs(&rec_l2), syncs(&rec_dhcp)), (1, 1));

    let wake = rec_dhcp.lock().unwrap().wake.clone().unwrap();
    assert!(wake.wake());
    assert!(wake.wake());
    pass(Duration::from_millis(1)).await;
    assert_eq!((syncs(&rec_l2), syncs(&rec_dhcp)), (1, 2), "one sync of the woken driver only");

    cp.publish(HOST, added(&["p1"]));
    pass(Duration::from_millis(1)).await;
    assert_eq!((syncs(&rec_l2), syncs(&rec_dhcp)), (2, 3));
    assert_eq!(last(&rec_l2), ids(&["p1"]));
    assert_eq!(last(&rec_dhcp), ids(&[]), "the l2 section is the l2 driver's");
}

#[tokio::test(start_paused = true)]
async fn a_failed_driver_ends_the_life_with_its_error() {
    let cp = FakeControlPlane::new();
    let (mut d, _) = FakeDriver::new(Role::L2);
    d.fail_sync = true;
    let run = start(&cp, vec![Box::new(d)]);
    let e = run.task.await.unwrap().unwrap_err();
    assert!(matches!(e, AgentError::Driver(ref d) if d.role == Role::L2), "{e}");
    assert_eq!(e.to_string(), "l2 driver: the host is on fire");
}

/// An `l3` driver whose first sync reports floating IP `f1` active.
struct FloatingDriver(bool);

impl Driver for FloatingDriver {
    fn role(&self) -> Role {
        Role::L3
    }

    fn start(&mut self, _wake: Wake) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(async { Ok(()) })
    }

    fn load(&mut self, _state: &mut HostState) {}

    fn apply(&mut self, _delta: &mut Delta) {}

    fn sync(&mut self) -> BoxFuture<'_, Result<StatusChanges, DriverError>> {
        let first = !std::mem::replace(&mut self.0, true);
        Box::pin(async move {
            let mut ch = StatusChanges::default();
            if first {
                ch.floatingips.insert("f1".into(), "ACTIVE".into());
            }
            Ok(ch)
        })
    }

    fn retry_status(&mut self, _changes: &StatusChanges) {}

    fn configurations(&self) -> Value {
        json!({})
    }
}

#[tokio::test(start_paused = true)]
async fn floating_ip_statuses_reach_the_server_beside_the_ports() {
    let cp = FakeControlPlane::new();
    cp.publish(HOST, added(&["p1"]));
    let (d, _) = FakeDriver::new(Role::L2);
    let _run = start(&cp, vec![Box::new(d), Box::new(FloatingDriver(false))]);
    pass(Duration::from_millis(1)).await;
    let reports = cp.status_reports();
    // The l2 driver's report carries its port, the l3 driver's the floating IP, once.
    assert_eq!(reported_up(&cp), vec!["p1"]);
    let fips: Vec<_> = reports.iter().flat_map(|r| r.floatingips.clone()).collect();
    assert_eq!(fips, vec![("f1".to_string(), "ACTIVE".to_string())]);
    assert!(reports.iter().all(|r| r.host == HOST));
}
