//! A minimal OpenRaft counter service, tested with twinnet.
//!
//! Each key holds one integer register (a counter). Clients can read a
//! register (a linearizable read: a read-index round, then the local state
//! machine), overwrite it, compare-and-set it, or add to it. Writes, cas and
//! adds go through the Raft log; reads do not.
//!
//! Durability: the state machine itself is volatile. What survives a restart
//! is the Raft log and vote (the library's [`LogStore`]) and the last snapshot,
//! which the state machine saves on the node's mount and syncs before
//! reporting it built or installed. At a restart openraft rebuilds the state
//! machine from that snapshot and the committed log.

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::StreamExt;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::{BasicNode, EntryPayload, SnapshotPolicy};
use parking_lot::Mutex;
use raft_sim::app::{App, NodeStart, StateDigest};
use raft_sim::service::{self, APP_PORT, LeaderClient, Routed};
use raft_sim::store::{LogStore, Mount, SnapshotWrite, StoredSnapshot};
use raft_sim::workload::{Model, Op, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A command that goes through the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CounterOp {
    /// Sets `key` to `value`.
    Write { key: String, value: i64 },
    /// Sets `key` to `to` if it currently holds `from` (an absent key holds
    /// nothing, so it never matches).
    Cas { key: String, from: i64, to: i64 },
    /// Adds `delta` to `key` (an absent key counts as 0).
    Add { key: String, delta: i64 },
}

impl std::fmt::Display for CounterOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CounterOp::Write { key, value } => write!(f, "write {key} {value}"),
            CounterOp::Cas { key, from, to } => write!(f, "cas {key} {from}->{to}"),
            CounterOp::Add { key, delta } => write!(f, "add {key} {delta:+}"),
        }
    }
}

/// The answer to a request: whether it took effect, and the register's
/// value after it (`None`: the key holds nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterReply {
    pub ok: bool,
    pub value: Option<i64>,
}

openraft::declare_raft_types!(
    /// The counter's openraft types. The leader id is openraft's default
    /// (`leader_id_adv`): several leaders may share a term.
    pub CounterConfig:
        D = CounterOp,
        R = CounterReply,
        AsyncRuntime = twinnet_rt::Runtime,
);

type C = CounterConfig;

/// What a client sends to a node's app port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CounterRequest {
    /// A linearizable read of `key`.
    Read { key: String },
    /// A command for the log.
    Command(CounterOp),
}

/// The client of the counter service.
pub type CounterClient = LeaderClient<CounterRequest, CounterReply>;

/// The state machine's contents.
#[derive(Debug, Clone, Default)]
struct State {
    last_applied: Option<LogIdOf<C>>,
    last_membership: StoredMembershipOf<C>,
    registers: BTreeMap<String, i64>,
}

impl State {
    fn apply(&mut self, op: &CounterOp) -> CounterReply {
        match op {
            CounterOp::Write { key, value } => {
                self.registers.insert(key.clone(), *value);
                CounterReply {
                    ok: true,
                    value: Some(*value),
                }
            }
            CounterOp::Cas { key, from, to } => {
                let current = self.registers.get(key).copied();
                if current == Some(*from) {
                    self.registers.insert(key.clone(), *to);
                    CounterReply {
                        ok: true,
                        value: Some(*to),
                    }
                } else {
                    CounterReply {
                        ok: false,
                        value: current,
                    }
                }
            }
            CounterOp::Add { key, delta } => {
                let slot = self.registers.entry(key.clone()).or_insert(0);
                *slot = slot.wrapping_add(*delta);
                CounterReply {
                    ok: true,
                    value: Some(*slot),
                }
            }
        }
    }

    fn snapshot_meta(&self) -> SnapshotMetaOf<C> {
        openraft::SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.last_membership.clone(),
        }
    }
}

fn encode(registers: &BTreeMap<String, i64>) -> io::Result<Vec<u8>> {
    serde_json::to_vec(registers).map_err(io::Error::other)
}

fn decode(bytes: &[u8]) -> io::Result<BTreeMap<String, i64>> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The registers as the node's request handler reads them.
#[derive(Debug, Clone)]
pub struct Registers(Arc<Mutex<State>>);

impl Registers {
    /// The value of `key`, as this node's state machine has it now.
    pub fn get(&self, key: &str) -> Option<i64> {
        self.0.lock().registers.get(key).copied()
    }
}

/// The counter's state machine: in memory, with its snapshots on the
/// node's mount.
pub struct CounterStateMachine {
    mount: Mount<C>,
    state: Arc<Mutex<State>>,
}

impl CounterStateMachine {
    /// An empty state machine on `mount`; openraft restores it from the
    /// mount's snapshot and the log when the node starts.
    pub fn open(mount: Mount<C>) -> Self {
        CounterStateMachine {
            mount,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// A read handle on the registers, for the request handler.
    pub fn registers(&self) -> Registers {
        Registers(Arc::clone(&self.state))
    }

    /// `applied` and the registers' bytes, for the harness.
    fn digest(&self) -> StateDigest<C> {
        let state = self.state.lock();
        StateDigest {
            applied: state.last_applied,
            digest: encode(&state.registers).unwrap_or_default(),
        }
    }
}

/// Builds a snapshot from a copy of the state taken when openraft asked.
pub struct CounterSnapshotBuilder {
    mount: Mount<C>,
    state: State,
}

impl RaftSnapshotBuilder<C> for CounterSnapshotBuilder {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf<C, Self::SnapshotData>> {
        let meta = self.state.snapshot_meta();
        let data = encode(&self.state.registers)?;
        self.mount.save_snapshot(
            StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            },
            SnapshotWrite::Built,
        )?;
        self.mount.sync().await?;
        Ok(openraft::Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<C> for CounterStateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = CounterSnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogIdOf<C>>, StoredMembershipOf<C>)> {
        let state = self.state.lock();
        Ok((state.last_applied, state.last_membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm:
            futures::Stream<Item = io::Result<EntryResponder<C>>> + Unpin + openraft::OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let reply = {
                let mut state = self.state.lock();
                state.last_applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Blank => CounterReply::default(),
                    EntryPayload::Normal(op) => state.apply(op),
                    EntryPayload::Membership(membership) => {
                        state.last_membership =
                            openraft::StoredMembership::new(Some(entry.log_id), membership.clone());
                        CounterReply::default()
                    }
                }
            };
            if let Some(responder) = responder {
                responder.send(reply);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        CounterSnapshotBuilder {
            mount: self.mount.clone(),
            state: self.state.lock().clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<C>,
        snapshot: Self::SnapshotData,
    ) -> io::Result<()> {
        let data = snapshot.into_inner();
        let registers = decode(&data)?;
        // At start-up openraft installs the snapshot already on the mount;
        // the disk writes (and counts) only a snapshot it does not hold.
        self.mount.save_snapshot(
            StoredSnapshot {
                meta: meta.clone(),
                data,
            },
            SnapshotWrite::Install,
        )?;
        self.mount.sync().await?;
        *self.state.lock() = State {
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
            registers,
        };
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> io::Result<Option<SnapshotOf<C, Self::SnapshotData>>> {
        Ok(self
            .mount
            .disk()
            .snapshot()
            .map(|stored| openraft::Snapshot {
                meta: stored.meta.clone(),
                snapshot: Cursor::new(stored.data.clone()),
            }))
    }
}

/// The counter's Raft timing: heartbeat 100 ms, election timeout 500-1000
/// ms; a snapshot every 200 log entries, keeping only 20 entries behind it,
/// so a follower that falls behind installs a snapshot.
pub fn raft_config() -> openraft::Config {
    openraft::Config {
        cluster_name: "counter".into(),
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(200),
        max_in_snapshot_log_to_keep: 20,
        ..openraft::Config::default()
    }
}

/// Answers one client request on a node.
async fn handle(
    raft: openraft::Raft<C, CounterStateMachine>,
    registers: Registers,
    request: CounterRequest,
) -> Routed<CounterReply> {
    match request {
        CounterRequest::Read { key } => {
            if let Err(answer) = service::linearize(&raft).await {
                return answer;
            }
            let value = registers.get(&key);
            Routed::Done(CounterReply { ok: true, value })
        }
        CounterRequest::Command(op) => service::write(&raft, op).await,
    }
}

/// Runs one incarnation of a counter node until it is killed.
pub async fn run_node(node: NodeStart<CounterApp>) {
    let mount = node.disk.mount();
    let log_store = LogStore::new(mount.clone());
    let state_machine = CounterStateMachine::open(mount);
    let registers = state_machine.registers();
    let network = raft_sim::network::Network::<C>::new(node.id);
    let Ok(raft) = openraft::Raft::new(
        node.id,
        node.config.clone(),
        network,
        log_store,
        state_machine,
    )
    .await
    else {
        return;
    };
    node.publish(raft.clone());
    let rpc = raft_sim::server::serve_raft(node.id, raft.clone(), raft_sim::wire::RAFT_PORT);
    madsim_net::task::spawn(rpc);
    let _ = service::serve(node.id, APP_PORT, move |request: CounterRequest| {
        handle(raft.clone(), registers.clone(), request)
    })
    .await;
}

/// The counter service as twinnet's harness drives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterApp;

pub mod fetch_add;

impl App for CounterApp {
    type C = CounterConfig;
    type Handle = openraft::Raft<CounterConfig, CounterStateMachine>;
    type Client = CounterClient;

    fn name(&self) -> &str {
        "counter"
    }

    fn raft_config(&self) -> openraft::Config {
        raft_config()
    }

    fn node(&self, _id: u64, ip: IpAddr) -> BasicNode {
        BasicNode::new(SocketAddr::new(ip, raft_sim::wire::RAFT_PORT))
    }

    async fn start(self, node: NodeStart<Self>) {
        run_node(node).await
    }

    fn client(&self, nodes: &[(u64, IpAddr)]) -> CounterClient {
        LeaderClient::new(
            nodes
                .iter()
                .map(|&(id, ip)| (id, SocketAddr::new(ip, APP_PORT)))
                .collect(),
        )
    }

    async fn invoke(&self, client: &mut CounterClient, op: &Op) -> Outcome {
        let key = op.key.clone();
        let ints = op.ints();
        let request = match (op.f, ints.as_deref()) {
            ("read", _) => CounterRequest::Read { key },
            ("write", Some(&[value])) => CounterRequest::Command(CounterOp::Write { key, value }),
            ("cas", Some(&[from, to])) => CounterRequest::Command(CounterOp::Cas { key, from, to }),
            ("add", Some(&[delta])) => CounterRequest::Command(CounterOp::Add { key, delta }),
            _ => return Outcome::Fail(Some(format!("unsupported op {} {}", op.f, op.value))),
        };
        match client.call(&request, op.may_write()).await {
            Err(err) => Outcome::from_client_error(err),
            Ok(reply) => match op.f {
                "read" => Outcome::Ok(Some(reply.value.map_or(Value::Null, Value::from))),
                "add" => Outcome::Ok(Some(reply.value.map_or(Value::Null, Value::from))),
                _ if reply.ok => Outcome::Ok(None),
                _ => Outcome::Fail(None),
            },
        }
    }

    /// Registers, and the counter's own fetch-and-add model.
    fn models(&self) -> Vec<Model> {
        vec![Model::RegisterCas, Model::Custom]
    }

    fn register_add(&self) -> bool {
        true
    }

    fn custom_op(&self, key: String, roll: u32, _process: u64, _serial: u64) -> Op {
        fetch_add::next_op(key, roll)
    }

    fn check_custom(
        &self,
        history: &twinnet_check::History,
        options: &twinnet_check::CheckOptions,
    ) -> Result<twinnet_check::CheckReport, twinnet_check::HistoryError> {
        twinnet_check::check_model::<fetch_add::FetchAdd>(history, options)
    }

    async fn state_digest(
        &self,
        raft: &Self::Handle,
    ) -> Result<StateDigest<CounterConfig>, String> {
        raft.with_state_machine(|sm: &mut CounterStateMachine| {
            let digest = sm.digest();
            Box::pin(async move { digest })
        })
        .await
        .map_err(|e| e.to_string())
    }
}
