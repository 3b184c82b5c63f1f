//! The client workload: concurrent processes issuing operations over a few
//! keys and recording a Jepsen-style history (JSONL, see
//! `docs/simulations/README.md`).
//!
//! A timed-out or ambiguous write is indeterminate (`info`) and its process
//! is retired, a fresh process id taking its place, as in Jepsen.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use madsim_net::rand::Rng;
use madsim_net::time::{self, Instant};
use madsim_net::{NetBackend, NodeTask};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{ClientError, KvClient};
use crate::cluster::{Cluster, ClusterError};
use crate::types::KvCommand;

/// Which data model the workload exercises (and the checker checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Integer registers per key: read / write / cas.
    RegisterCas,
    /// String values per key: get / put / append.
    KvAppend,
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "register-cas" => Ok(Model::RegisterCas),
            "kv-append" => Ok(Model::KvAppend),
            other => Err(format!(
                "unknown model {other:?}: choose register-cas or kv-append"
            )),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Model::RegisterCas => "register-cas",
            Model::KvAppend => "kv-append",
        })
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

struct Recorder {
    start: Instant,
    events: Mutex<Vec<HistoryEvent>>,
    next_process: AtomicU64,
    issued: AtomicUsize,
    ops: usize,
}

impl Recorder {
    /// Records one event; `error` marks a failure that is not the
    /// operation's own answer.
    fn record(
        &self,
        process: u64,
        kind: EventType,
        op: (&str, &str),
        value: Value,
        error: Option<&str>,
    ) {
        let (f, key) = op;
        let event = HistoryEvent {
            process,
            kind,
            f: f.to_string(),
            key: key.to_string(),
            value,
            time_ns: self.start.elapsed().as_nanos() as u64,
            error: error.map(str::to_string),
        };
        self.events.lock().push(event);
    }

    /// Claims the next operation, if any are left.
    fn claim(&self) -> bool {
        self.issued.fetch_add(1, Ordering::Relaxed) < self.ops
    }
}

/// An operation about to be invoked.
struct Op {
    f: &'static str,
    key: String,
    value: Value,
    request: Request,
}

enum Request {
    Read,
    Write(KvCommand),
}

fn generate(model: Model, keys: usize, process: u64, serial: u64) -> Op {
    let mut rng = madsim_net::rand::thread_rng();
    let key = format!("k{}", rng.gen_range(0..keys));
    let roll = rng.gen_range(0..100u32);
    match model {
        Model::RegisterCas => {
            if roll < 50 {
                Op {
                    f: "read",
                    key,
                    value: Value::Null,
                    request: Request::Read,
                }
            } else if roll < 75 {
                let n: i64 = rng.gen_range(0..10);
                let put = KvCommand::Put {
                    key: key.clone(),
                    value: n.to_string(),
                };
                Op {
                    f: "write",
                    key,
                    value: json!(n),
                    request: Request::Write(put),
                }
            } else {
                let (from, to): (i64, i64) = (rng.gen_range(0..10), rng.gen_range(0..10));
                let cas = KvCommand::Cas {
                    key: key.clone(),
                    from: Some(from.to_string()),
                    to: to.to_string(),
                };
                Op {
                    f: "cas",
                    key,
                    value: json!([from, to]),
                    request: Request::Write(cas),
                }
            }
        }
        Model::KvAppend => {
            if roll < 40 {
                Op {
                    f: "get",
                    key,
                    value: Value::Null,
                    request: Request::Read,
                }
            } else {
                let token = format!("{process}.{serial} ");
                let (f, command) = if roll < 50 {
                    (
                        "put",
                        KvCommand::Put {
                            key: key.clone(),
                            value: token.clone(),
                        },
                    )
                } else {
                    (
                        "append",
                        KvCommand::Append {
                            key: key.clone(),
                            value: token.clone(),
                        },
                    )
                };
                Op {
                    f,
                    key,
                    value: json!(token),
                    request: Request::Write(command),
                }
            }
        }
    }
}

/// How an operation completed, in history terms.
fn complete(
    model: Model,
    op: &Op,
    outcome: Result<Result<Outcome, ClientError>, time::Elapsed>,
) -> (EventType, Value, Option<&'static str>) {
    let is_read = matches!(op.request, Request::Read);
    match outcome {
        Ok(Ok(Outcome::Read(value))) => (EventType::Ok, read_value(model, value), None),
        Ok(Ok(Outcome::Written(response))) if response.ok => {
            (EventType::Ok, op.value.clone(), None)
        }
        // A cas whose expected value did not match: its own answer.
        Ok(Ok(Outcome::Written(_))) => (EventType::Fail, op.value.clone(), None),
        // No node took it: it did not happen, and says nothing of the value.
        Ok(Err(ClientError::GaveUp { .. })) => (EventType::Fail, op.value.clone(), Some("gave-up")),
        // A read changes nothing: a lost one is a failure, never ambiguous.
        Ok(Err(ClientError::Indeterminate { .. })) | Err(_) if is_read => {
            (EventType::Fail, Value::Null, Some("no-answer"))
        }
        Ok(Err(ClientError::Indeterminate { .. })) | Err(_) => {
            (EventType::Info, op.value.clone(), None)
        }
    }
}

fn read_value(model: Model, value: Option<String>) -> Value {
    match (model, value) {
        (Model::RegisterCas, None) => Value::Null,
        (Model::RegisterCas, Some(s)) => s.parse::<i64>().map_or(Value::String(s), |n| json!(n)),
        (Model::KvAppend, value) => json!(value.unwrap_or_default()),
    }
}

enum Outcome {
    Read(Option<String>),
    Written(crate::types::KvResponse),
}

async fn perform(client: &mut KvClient, op: &Op) -> Result<Outcome, ClientError> {
    match &op.request {
        Request::Read => client.read(&op.key).await.map(Outcome::Read),
        Request::Write(command) => client.write(command.clone()).await.map(Outcome::Written),
    }
}

/// One client process slot: runs operations until the budget is spent,
/// taking a new process id after every indeterminate one.
async fn client_loop(recorder: Arc<Recorder>, template: KvClient, config: WorkloadConfig) {
    let mut process = recorder.next_process.fetch_add(1, Ordering::Relaxed);
    let mut client = template.clone();
    let mut serial = 0u64;
    while recorder.claim() {
        serial += 1;
        let op = generate(config.model, config.keys, process, serial);
        recorder.record(
            process,
            EventType::Invoke,
            (op.f, &op.key),
            op.value.clone(),
            None,
        );
        let outcome = time::timeout(
            Duration::from_millis(config.op_timeout_ms),
            perform(&mut client, &op),
        )
        .await;
        let (kind, value, error) = complete(config.model, &op, outcome);
        recorder.record(process, kind, (op.f, &op.key), value, error);
        if kind == EventType::Info {
            process = recorder.next_process.fetch_add(1, Ordering::Relaxed);
            client = template.clone();
        }
        time::sleep(Duration::from_millis(config.think_ms.max(1))).await;
    }
}

/// Starts the workload on the cluster's client node; the task resolves to
/// the history once every operation has completed.
pub fn start<B: NetBackend>(
    cluster: &Cluster<B>,
    config: WorkloadConfig,
) -> Result<NodeTask<Vec<HistoryEvent>>, ClusterError> {
    let template = cluster.client();
    cluster.spawn_client(async move {
        let recorder = Arc::new(Recorder {
            start: Instant::now(),
            events: Mutex::new(Vec::with_capacity(config.ops * 2)),
            next_process: AtomicU64::new(0),
            issued: AtomicUsize::new(0),
            ops: config.ops,
        });
        let processes: Vec<_> = (0..config.clients)
            .map(|_| {
                madsim_net::task::spawn(client_loop(
                    Arc::clone(&recorder),
                    template.clone(),
                    config.clone(),
                ))
            })
            .collect();
        for process in processes {
            let _ = process.await;
        }
        std::mem::take(&mut *recorder.events.lock())
    })
}
