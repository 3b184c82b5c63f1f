//! `raft_sim::sweep::check_determinism` on the KV app: a seed runs twice to
//! the same trace; an app that leaks state across runs (a process-global
//! counter, as a `static` cache or a lazily seeded RNG would) is caught, and
//! the divergence names the first event where the runs differ. And an app
//! whose node code calls tokio directly fails with the cause named.
#![cfg(madsim)]

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use example_kv::KvApp;
use example_kv::client::KvClient;
use example_kv::store::Raft;
use example_kv::types::TypeConfig;
use raft_sim::app::{App, NodeStart, StateDigest};
use raft_sim::nemesis::NemesisPreset;
use raft_sim::sweep::{RunConfig, check_determinism, run_seed};
use raft_sim::workload::{Op, Outcome, WorkloadConfig};
use serde::{Deserialize, Serialize};

fn config<A: App>(app: A) -> RunConfig<A> {
    RunConfig {
        app_name: app.name().to_string(),
        app,
        nodes: 3,
        nemesis: NemesisPreset::Standard,
        workload: WorkloadConfig {
            ops: 200,
            ..WorkloadConfig::default()
        },
        schedule: None,
    }
}

#[test]
fn the_kv_app_replays_a_seed_to_the_same_trace() {
    let hash = check_determinism(3, &config(KvApp::default())).expect("deterministic");
    assert_eq!(hash.len(), 16, "{hash}");
}

/// Starts grow slower with every run in this process: state that outlives
/// a simulation, which no seed controls.
static STARTS: AtomicU64 = AtomicU64::new(0);

/// A rule of the simulator that node code breaks.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
enum Mistake {
    /// A process-global counter read in the node's start-up.
    #[default]
    LeakAcrossRuns,
    /// `tokio::spawn` instead of `madsim_net::task::spawn`.
    CallsTokio,
}

/// The KV app whose node start-up makes `Mistake`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Broken {
    kv: KvApp,
    mistake: Mistake,
}

impl Broken {
    fn making(mistake: Mistake) -> Self {
        Broken {
            kv: KvApp::default(),
            mistake,
        }
    }
}

impl App for Broken {
    type C = TypeConfig;
    type Handle = Raft;
    type Client = KvClient;

    fn name(&self) -> &str {
        "broken-kv"
    }
    fn raft_config(&self) -> openraft::Config {
        self.kv.raft_config()
    }
    fn node(&self, id: u64, ip: IpAddr) -> openraft::BasicNode {
        self.kv.node(id, ip)
    }
    async fn start(self, node: NodeStart<Self>) {
        match self.mistake {
            Mistake::LeakAcrossRuns => {
                let delay_ms = STARTS.fetch_add(1, Ordering::Relaxed);
                madsim_net::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            Mistake::CallsTokio => drop(tokio::spawn(async {})),
        }
        self.kv.start(node.cast::<KvApp>()).await
    }
    fn client(&self, nodes: &[(u64, IpAddr)]) -> KvClient {
        self.kv.client(nodes)
    }
    async fn invoke(&self, client: &mut KvClient, op: &Op) -> Outcome {
        self.kv.invoke(client, op).await
    }
    async fn state_digest(&self, node: &Raft) -> Result<StateDigest<TypeConfig>, String> {
        self.kv.state_digest(node).await
    }
}

#[test]
fn state_leaking_across_runs_is_named() {
    let divergence = check_determinism(3, &config(Broken::making(Mistake::LeakAcrossRuns)))
        .expect_err("a leak across runs must not replay");
    assert_ne!(divergence.trace_hashes[0], divergence.trace_hashes[1]);
    assert_ne!(divergence.events[0], divergence.events[1]);
    let text = divergence.to_string();
    assert!(
        text.contains("not deterministic") && text.contains("first differ at event"),
        "{text}"
    );
}

#[test]
fn node_code_calling_tokio_fails_with_the_cause_named() {
    let outcome = run_seed(1, &config(Broken::making(Mistake::CallsTokio)));
    let failures = outcome.failures.join("; ");
    assert!(
        failures.contains("node code called tokio directly"),
        "{failures}"
    );
}
