//! The client workload: concurrent processes issuing operations over a few
//! keys and recording a Jepsen-style history (JSONL, see
//! `docs/simulations/README.md`).
//!
//! A timed-out or ambiguous write is indeterminate (`info`) and its process
//! is retired, a fresh process id taking its place, as in Jepsen.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use madsim_net::rand::Rng;
use madsim_net::stream::{Stream, StreamRng};
use madsim_net::time::{self, Instant};
use madsim_net::{NetBackend, NodeTask};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::App;
use crate::cluster::{Cluster, ClusterError};

/// Which data model the workload exercises (and the checker checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Integer registers per key: read / write / cas.
    RegisterCas,
    /// String values per key: get / put / append.
    KvAppend,
    /// Versioned values per key, as openraft's example KV store keeps
    /// them: read / write / cas on the version (the version of a write is
    /// its log index).
    VersionedCas,
    /// The app's own: it draws the ops ([`App::custom_op`]) and checks the
    /// history with its own `twinnet_check::Model` ([`App::check_custom`]).
    Custom,
}

impl Model {
    pub const ALL: [Model; 4] = [
        Model::RegisterCas,
        Model::KvAppend,
        Model::VersionedCas,
        Model::Custom,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Model::RegisterCas => "register-cas",
            Model::KvAppend => "kv-append",
            Model::VersionedCas => "versioned-cas",
            Model::Custom => "custom",
        }
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Model::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown model {s:?}: choose register-cas, kv-append, versioned-cas or custom"
                )
            })
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The shape of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadConfig {
    pub model: Model,
    /// Concurrent client processes.
    pub clients: usize,
    /// Distinct keys the operations spread over.
    pub keys: usize,
    /// Operations in total, over all processes.
    pub ops: usize,
    /// Pause of a process between two operations.
    pub think_ms: u64,
    /// An operation not answered within this is indeterminate.
    pub op_timeout_ms: u64,
    /// Spread the operations over this span from the workload's start
    /// (0: no spreading). A process thinks longer than `think_ms` while
    /// the workload is ahead of an even spread and only `think_ms` once it
    /// is behind, so a stall (a crash, an election) is followed by a
    /// burst that catches up, and no idle tail runs past the span.
    #[serde(default)]
    pub spread_ms: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            model: Model::RegisterCas,
            clients: 5,
            keys: 5,
            ops: 1_000,
            think_ms: 10,
            op_timeout_ms: 3_000,
            spread_ms: 0,
        }
    }
}

/// Bounds on a workload a user may ask for.
pub const MAX_CLIENTS: usize = 64;
pub const MAX_KEYS: usize = 10_000;
pub const MAX_OPS: usize = 1_000_000;

impl WorkloadConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CLIENTS).contains(&self.clients) {
            return Err(format!(
                "clients must be in 1..={MAX_CLIENTS}, not {}",
                self.clients
            ));
        }
        if !(1..=MAX_KEYS).contains(&self.keys) {
            return Err(format!("keys must be in 1..={MAX_KEYS}, not {}", self.keys));
        }
        if !(1..=MAX_OPS).contains(&self.ops) {
            return Err(format!("ops must be in 1..={MAX_OPS}, not {}", self.ops));
        }
        Ok(())
    }
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: String,
    pub key: String,
    pub value: Value,
    /// Simulated (or real) nanoseconds since the workload started.
    pub time_ns: u64,
    /// On a `fail`: why, when it is not the operation's own answer (a cas
    /// whose compare failed has none). Jepsen's `:error`: the checker takes
    /// such a failure as "did not happen" and nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// The history as JSONL, one event a line.
pub fn to_jsonl(history: &[HistoryEvent]) -> String {
    let mut out = String::with_capacity(history.len() * 96);
    for event in history {
        if let Ok(line) = serde_json::to_string(event) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Records a history: shared by the client processes of a workload (the
/// harness's own, or one a user writes for a scenario). Times are
/// simulated (or real) nanoseconds since the recorder was made; at most
/// `ops` operations are claimed.
///
/// ```
/// use raft_sim::workload::{Op, Outcome, Recorder};
/// let recorder = Recorder::new(10);
/// let process = recorder.new_process();
/// let op = Op::write("k0".into(), 3);
/// assert!(recorder.claim());
/// recorder.invoke(process, &op);
/// recorder.complete(process, &op, Some(Outcome::Ok(None)));
/// let history = recorder.take();
/// assert_eq!(history.len(), 2);
/// assert!(raft_sim::workload::to_jsonl(&history).contains("\"type\":\"ok\""));
/// ```
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    events: Mutex<Vec<HistoryEvent>>,
    next_process: AtomicU64,
    issued: AtomicUsize,
    fresh: AtomicU64,
    ops: usize,
}

impl Recorder {
    /// A recorder for at most `ops` operations (capped at [`MAX_OPS`]).
    pub fn new(ops: usize) -> Self {
        let ops = ops.min(MAX_OPS);
        Recorder {
            start: Instant::now(),
            events: Mutex::new(Vec::with_capacity(ops * 2)),
            next_process: AtomicU64::new(0),
            issued: AtomicUsize::new(0),
            fresh: AtomicU64::new(1),
            ops,
        }
    }

    /// A fresh process id (a process whose op ended `info` must take a
    /// new one: its old one may still have an operation in flight).
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Records the invocation of `op` by `process`.
    pub fn invoke(&self, process: u64, op: &Op) {
        self.record(process, EventType::Invoke, op, op.value.clone(), None);
    }

    /// Records how `op` completed (`None`: no answer in time) and returns
    /// the history type it got.
    pub fn complete(&self, process: u64, op: &Op, outcome: Option<Outcome>) -> EventType {
        let (kind, value, error) = complete(op, outcome);
        self.record(process, kind, op, value, error);
        kind
    }

    /// The history so far, leaving the recorder empty.
    pub fn take(&self) -> Vec<HistoryEvent> {
        std::mem::take(&mut *self.events.lock())
    }

    /// Records one event; `error` marks a failure that is not the
    /// operation's own answer.
    fn record(&self, process: u64, kind: EventType, op: &Op, value: Value, error: Option<String>) {
        let event = HistoryEvent {
            process,
            kind,
            f: op.f.to_string(),
            key: op.key.clone(),
            value,
            time_ns: self.start.elapsed().as_nanos() as u64,
            error,
        };
        self.events.lock().push(event);
    }

    /// A number no earlier call returned (from 1): the workload's values
    /// are made from it, so every write is told apart in the history.
    pub fn fresh(&self) -> u64 {
        self.fresh.fetch_add(1, Ordering::Relaxed)
    }

    /// Claims the next operation, if any are left.
    pub fn claim(&self) -> bool {
        self.issued.fetch_add(1, Ordering::Relaxed) < self.ops
    }

    /// Operations not claimed yet.
    fn unclaimed(&self) -> usize {
        self.ops.saturating_sub(self.issued.load(Ordering::Relaxed))
    }

    /// How long a process thinks before its next operation under
    /// `config`: `think_ms`, or longer to spread the unclaimed operations
    /// evenly over what is left of `spread_ms` (each of the `clients`
    /// processes takes one in turn).
    fn think_time(&self, config: &WorkloadConfig) -> Duration {
        let floor_ms = config.think_ms.max(1);
        let unclaimed = self.unclaimed() as u64;
        if config.spread_ms == 0 || unclaimed == 0 {
            return Duration::from_millis(floor_ms);
        }
        let elapsed_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let left_ms = config.spread_ms.saturating_sub(elapsed_ms);
        let paced_ms = left_ms.saturating_mul(config.clients.max(1) as u64) / unclaimed;
        Duration::from_millis(paced_ms.max(floor_ms))
    }
}

/// One operation of the workload, in the checker's vocabulary: `f`, `key`
/// and the invoke `value` are what the history records; the app maps them
/// to its own request (see [`App::invoke`](crate::app::App::invoke)).
///
/// | model | `f` | invoke `value` | ok `value` |
/// |---|---|---|---|
/// | register-cas | `read` | null | the integer read, or null |
/// | register-cas | `write` | n | n |
/// | register-cas | `cas` | [from, to] | [from, to] |
/// | register-cas | `add` | d | d |
/// | kv-append | `get` | null | the string read ("" when absent) |
/// | kv-append | `put`, `append` | a token | the token |
/// | versioned-cas | `read` | null | {"value": v, "version": n} or null |
/// | versioned-cas | `write` | v | the version it produced |
/// | versioned-cas | `cas` | [expected_version, v] | the version it produced |
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub f: &'static str,
    pub key: String,
    pub value: Value,
}

impl Op {
    /// A register `write` of `n` to `key`.
    pub fn write(key: String, n: i64) -> Op {
        Op {
            f: "write",
            key,
            value: json!(n),
        }
    }

    /// Whether the op may change state: such an op is never retried once
    /// it may have reached a leader, and an unanswered one is `info`.
    pub fn may_write(&self) -> bool {
        !matches!(self.f, "read" | "get")
    }

    /// The integer of a register `write`, or the `[from, to]` of a `cas`.
    pub fn ints(&self) -> Option<Vec<i64>> {
        match &self.value {
            Value::Number(n) => n.as_i64().map(|n| vec![n]),
            Value::Array(items) => items.iter().map(Value::as_i64).collect(),
            _ => None,
        }
    }

    /// The string of a kv `put`/`append` or a versioned `write`.
    pub fn text(&self) -> Option<&str> {
        self.value.as_str()
    }
}

/// What came of one operation, as the app saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It happened. For a read, the value read (see [`Op`]'s table); for a
    /// write, `None` keeps the invoke value, `Some` records the answer (a
    /// versioned write's version).
    Ok(Option<Value>),
    /// It certainly did not happen. `None`: it was the operation's own
    /// answer (a cas that did not match); `Some(why)`: no node took it.
    Fail(Option<String>),
    /// It may or may not have happened (a lost answer, a timeout).
    Unknown(String),
}

impl Outcome {
    /// The outcome of a client call that gave no answer.
    pub fn from_client_error(error: crate::service::ClientError) -> Outcome {
        match error {
            crate::service::ClientError::GaveUp { .. } => Outcome::Fail(Some("gave-up".into())),
            crate::service::ClientError::Indeterminate { why, .. } => Outcome::Unknown(why),
        }
    }

    /// The outcome of a client call: `answered` maps the app's answer, the
    /// app's refusal (`Err(why)`) certainly did not happen, no answer is
    /// [`Outcome::from_client_error`].
    pub fn of_call<T>(
        call: Result<Result<T, String>, crate::service::ClientError>,
        answered: impl FnOnce(T) -> Outcome,
    ) -> Outcome {
        match call {
            Ok(Ok(answer)) => answered(answer),
            Ok(Err(why)) => Outcome::Fail(Some(why)),
            Err(err) => Outcome::from_client_error(err),
        }
    }
}

/// An operation of the versioned-cas model, decoded from its [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionedOp {
    Read,
    /// Set the key to this value.
    Write(String),
    /// Set the key to `value` if its version is `expected`.
    Cas {
        expected: u64,
        value: String,
    },
}

impl VersionedOp {
    /// Decodes `op`; an op outside the model is refused with the outcome
    /// to record for it.
    pub fn decode(op: &Op) -> Result<VersionedOp, Outcome> {
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        match (op.f, &op.value) {
            ("read", _) => Ok(VersionedOp::Read),
            ("write", value) => Ok(VersionedOp::Write(text(value))),
            ("cas", Value::Array(args)) if args.len() == 2 => match args[0].as_u64() {
                Some(expected) => Ok(VersionedOp::Cas {
                    expected,
                    value: text(&args[1]),
                }),
                None => Err(Outcome::Fail(Some(format!("bad cas {}", op.value)))),
            },
            _ => Err(Outcome::Fail(Some(format!(
                "unsupported op {} {}",
                op.f, op.value
            )))),
        }
    }
}

/// What a client process remembers between its operations, per key: the
/// versioned-cas version and the register value it saw last, so a cas can
/// name a plausible expected one (a cas chain, most of whose links swap).
#[derive(Debug, Default)]
struct ProcessMemory {
    versions: BTreeMap<String, u64>,
    values: BTreeMap<String, i64>,
}

impl ProcessMemory {
    /// Learns from `op`'s outcome: what it read or wrote, or that the key's
    /// value is no longer known (an add, an indeterminate write).
    fn learn(&mut self, op: &Op, outcome: Option<&Outcome>) {
        let answer = match outcome {
            Some(Outcome::Ok(Some(value))) => Some(value),
            Some(Outcome::Ok(None)) => Some(&op.value),
            _ => None,
        };
        let version = match (op.f, answer) {
            ("read", Some(value)) => value.get("version").and_then(Value::as_u64),
            (_, Some(value)) => value.as_u64(),
            _ => None,
        };
        if let Some(version) = version {
            self.versions.insert(op.key.clone(), version);
        }
        let value = match (op.f, answer) {
            ("read" | "write", Some(value)) => value.as_i64(),
            ("cas", Some(Value::Array(pair))) => pair.get(1).and_then(Value::as_i64),
            _ => None,
        };
        match value {
            Some(value) => self.values.insert(op.key.clone(), value),
            None => self.values.remove(&op.key),
        };
    }
}

/// Register values written by the workload are `unique * REGISTER_STRIDE`
/// (unique per workload) and adds are below the stride, so a read names
/// the write it saw and a lost, repeated or misrouted write shows.
pub const REGISTER_STRIDE: i64 = 1_000;

/// Draws the next operation of `model` from the client slot's stream (the
/// simulator's seeded RNG under `cfg(madsim)`, where the draw order is part
/// of every seed's trace). `unique` is fresh for every operation of the
/// workload.
fn generate<A: App>(
    rng: &mut StreamRng,
    app: &A,
    model: Model,
    keys: usize,
    (process, serial, unique): (u64, u64, u64),
    memory: &ProcessMemory,
) -> Op {
    let index = rng.gen_range(0..keys);
    let key = key_name(index);
    let roll = rng.gen_range(0..100u32);
    let fresh = i64::try_from(unique).unwrap_or(i64::MAX / REGISTER_STRIDE) * REGISTER_STRIDE;
    let accumulates = accumulator_key(index, keys);
    let (f, value) = match model {
        Model::Custom => return app.custom_op(key, roll, process, serial),
        Model::RegisterCas if accumulates && app.register_add() => match roll {
            0..40 => ("read", Value::Null),
            _ => ("add", json!(rng.gen_range(1..10i64))),
        },
        Model::RegisterCas => {
            let seen = memory.values.get(&key);
            register_op(rng, roll, seen, fresh, app.register_add())
        }
        Model::KvAppend if roll < 40 => ("get", Value::Null),
        Model::KvAppend => {
            let f = if roll < 50 && !accumulates {
                "put"
            } else {
                "append"
            };
            (f, json!(format!("{process}.{serial} ")))
        }
        Model::VersionedCas if roll < 50 => ("read", Value::Null),
        Model::VersionedCas if roll < 75 => ("write", json!(format!("{process}.{serial}"))),
        Model::VersionedCas => {
            let expected = memory.versions.get(&key).copied().unwrap_or(0);
            ("cas", json!([expected, format!("{process}.{serial}")]))
        }
    };
    Op { f, key, value }
}

/// One key in [`ACCUMULATOR_EVERY`] (`k0`, `k4`, ...; none when there is a
/// single key) only accumulates: adds and reads on the register, appends
/// and gets on kv-append. Nothing ever overwrites it, so an update lost,
/// applied twice or replayed at a restart stays visible to every later
/// read and to the final state check, where on the other keys the next
/// write would hide it.
pub const ACCUMULATOR_EVERY: usize = 4;

fn accumulator_key(index: usize, keys: usize) -> bool {
    keys > 1 && index.is_multiple_of(ACCUMULATOR_EVERY)
}

/// A register op: reads (40%), writes of a fresh value (20%), cas chains
/// from the value this process saw last to a fresh one (25%; a read when
/// it saw none), and small adds (15%; writes if the app has no `add`),
/// the one op that is not idempotent, so an entry applied twice shows.
fn register_op(
    rng: &mut impl Rng,
    roll: u32,
    seen: Option<&i64>,
    fresh: i64,
    add: bool,
) -> (&'static str, Value) {
    match (roll, seen) {
        (0..40, _) | (60..85, None) => ("read", Value::Null),
        (40..60, _) => ("write", json!(fresh)),
        (60..85, Some(&from)) => ("cas", json!([from, fresh])),
        _ if add => ("add", json!(rng.gen_range(1..10i64))),
        _ => ("write", json!(fresh)),
    }
}

/// The name of the workload's key number `index` (`k0`, `k1`, ...): an app
/// that digests its state key by key reads these.
pub fn key_name(index: usize) -> String {
    format!("k{index}")
}

/// How an operation completed, in history terms.
fn complete(op: &Op, outcome: Option<Outcome>) -> (EventType, Value, Option<String>) {
    let is_read = !op.may_write();
    match outcome {
        Some(Outcome::Ok(Some(value))) => (EventType::Ok, value, None),
        Some(Outcome::Ok(None)) => (EventType::Ok, op.value.clone(), None),
        Some(Outcome::Fail(why)) => (EventType::Fail, op.value.clone(), why),
        // A read changes nothing: a lost one is a failure, never ambiguous.
        Some(Outcome::Unknown(_)) | None if is_read => {
            (EventType::Fail, Value::Null, Some("no-answer".into()))
        }
        Some(Outcome::Unknown(_)) | None => (EventType::Info, op.value.clone(), None),
    }
}

/// One client process slot: runs operations until the budget is spent,
/// taking a new process id (and a fresh client) after every indeterminate one.
async fn client_loop<A: App>(
    mut rng: StreamRng,
    app: A,
    nodes: Arc<Vec<(u64, IpAddr)>>,
    (recorder, acks): (Arc<Recorder>, Arc<tokio::sync::Notify>),
    config: WorkloadConfig,
) {
    let mut process = recorder.new_process();
    let mut client = app.client(&nodes);
    let mut memory = ProcessMemory::default();
    let mut serial = 0u64;
    while recorder.claim() {
        serial += 1;
        let unique = recorder.fresh();
        let op = generate(
            &mut rng,
            &app,
            config.model,
            config.keys,
            (process, serial, unique),
            &memory,
        );
        recorder.invoke(process, &op);
        let outcome = time::timeout(
            Duration::from_millis(config.op_timeout_ms),
            app.invoke(&mut client, &op),
        )
        .await
        .ok();
        memory.learn(&op, outcome.as_ref());
        let kind = recorder.complete(process, &op, outcome);
        if kind == EventType::Ok && op.may_write() {
            acks.notify_waiters();
        }
        if kind == EventType::Info {
            // The process retires (its op stays open forever), but the
            // client lives on, as an app's client library does: what it
            // keeps from the unanswered request (a connection, a late
            // answer on it) meets the next one.
            process = recorder.new_process();
        }
        time::sleep(recorder.think_time(&config)).await;
    }
}

/// Starts the workload on the cluster's client node; the task resolves to
/// the history once every operation has completed. Client slot `n` draws
/// its operations from the workload stream `n` of `seed`.
pub fn start<B: NetBackend, A: App>(
    cluster: &Cluster<B, A>,
    config: WorkloadConfig,
    seed: u64,
) -> Result<NodeTask<Vec<HistoryEvent>>, ClusterError> {
    let app = cluster.app().clone();
    let nodes = Arc::new(cluster.node_addrs());
    let acks = cluster.ack_signal();
    cluster.spawn_client(async move {
        let recorder = Arc::new(Recorder::new(config.ops));
        let processes: Vec<_> = (0..config.clients)
            .map(|slot| {
                madsim_net::task::spawn(client_loop(
                    StreamRng::new(seed, Stream::Workload(slot as u64)),
                    app.clone(),
                    Arc::clone(&nodes),
                    (Arc::clone(&recorder), Arc::clone(&acks)),
                    config.clone(),
                ))
            })
            .collect();
        for process in processes {
            let _ = process.await;
        }
        recorder.take()
    })
}

#[cfg(test)]
mod tests {
    use rand08::SeedableRng;

    use super::*;

    #[test]
    fn a_spread_workload_thinks_longer_while_ahead_and_the_floor_once_behind() {
        let config = WorkloadConfig {
            ops: 100,
            clients: 5,
            think_ms: 10,
            spread_ms: 10_000,
            ..WorkloadConfig::default()
        };
        let recorder = Recorder::new(config.ops);
        // At the start: 100 ops over 10 s, five at a time, 500 ms apart.
        let think_ms = recorder.think_time(&config).as_millis();
        assert!((495..=500).contains(&think_ms), "{think_ms} ms");
        for _ in 0..90 {
            assert!(recorder.claim());
        }
        let think_ms = recorder.think_time(&config).as_millis();
        assert!((4_950..=5_000).contains(&think_ms), "{think_ms} ms");
        // Nothing left to spread, or no spreading asked: the floor.
        for _ in 0..10 {
            assert!(recorder.claim());
        }
        assert_eq!(recorder.think_time(&config), Duration::from_millis(10));
        let unspread = WorkloadConfig {
            spread_ms: 0,
            ..config
        };
        assert_eq!(
            Recorder::new(100).think_time(&unspread),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn register_ops_write_fresh_values_and_chain_cas_from_what_was_seen() {
        let rng = &mut rand08::rngs::StdRng::seed_from_u64(7);
        let fresh = 42 * REGISTER_STRIDE;
        for roll in 0..100 {
            let (f, value) = register_op(rng, roll, Some(&3_000), fresh, true);
            match f {
                "read" => assert!(roll < 40, "roll {roll}"),
                "write" => assert_eq!(value, json!(fresh)),
                "cas" => assert_eq!(value, json!([3_000, fresh])),
                "add" => {
                    let delta = value.as_i64().unwrap_or(0);
                    assert!((1..REGISTER_STRIDE).contains(&delta), "add {delta}");
                }
                other => panic!("unexpected op {other}"),
            }
            // Nothing seen: a cas has nothing to chain from and reads.
            let (f, _) = register_op(rng, roll, None, fresh, true);
            assert_ne!(f, "cas");
            // An app without add gets writes instead.
            let (f, _) = register_op(rng, roll, Some(&3_000), fresh, false);
            assert_ne!(f, "add");
        }
    }

    #[test]
    fn a_process_remembers_values_it_knows_and_forgets_the_rest() {
        let mut memory = ProcessMemory::default();
        let write = Op::write("k0".into(), 5_000);
        memory.learn(&write, Some(&Outcome::Ok(None)));
        assert_eq!(memory.values.get("k0"), Some(&5_000));
        let cas = Op {
            f: "cas",
            key: "k0".into(),
            value: json!([5_000, 6_000]),
        };
        memory.learn(&cas, Some(&Outcome::Ok(None)));
        assert_eq!(memory.values.get("k0"), Some(&6_000));
        let add = Op {
            f: "add",
            key: "k0".into(),
            value: json!(3),
        };
        memory.learn(&add, Some(&Outcome::Ok(None)));
        assert_eq!(
            memory.values.get("k0"),
            None,
            "an add leaves the value unknown"
        );
        memory.learn(&write, Some(&Outcome::Ok(None)));
        memory.learn(&cas, None);
        assert_eq!(
            memory.values.get("k0"),
            None,
            "an unanswered cas may or may not have swapped"
        );
    }
}
