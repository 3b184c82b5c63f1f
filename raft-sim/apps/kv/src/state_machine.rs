//! The KV state machine: volatile, in memory, rebuilt at every start from the
//! disk's last snapshot plus the log above it.
//!
//! This is openraft's "transient state machine" pattern: `apply` persists
//! nothing, every snapshot is synced before it is reported, and on start-up
//! openraft itself installs the disk's snapshot (through
//! [`RaftStateMachine::install_snapshot`]) and re-applies the log up to the
//! saved committed id.

use std::collections::BTreeMap;
use std::io;
use std::io::Cursor;
use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::{SnapshotOf, StoredMembershipOf};
use openraft::{EntryPayload, OptionalSend};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use openraft::type_config::alias::{EntryOf, LogIdOf, SnapshotMetaOf};
use raft_sim::store::{Mount, SnapshotWrite, StoredSnapshot};

use crate::bugs::Bugs;
use crate::types::{KvCommand, KvResponse, SnapshotData, TypeConfig};

type StoredMembership = StoredMembershipOf<TypeConfig>;
type Snapshot = SnapshotOf<TypeConfig, SnapshotData>;
type Entry = EntryOf<TypeConfig>;
type LogId = LogIdOf<TypeConfig>;
type SnapshotMeta = SnapshotMetaOf<TypeConfig>;

/// The name of the state machine's data file under the planted
/// `lost-applied` bug (a file on the node's simulated disk).
const DATA_FILE: &str = "kv-data";

/// Largest value a key may hold; a write that would exceed it is refused
/// (`ok: false`, value unchanged), identically on every replica.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Largest total of key and value bytes; keeps every snapshot well below
/// the network's `MAX_RPC_MESSAGE_SIZE` (10 MiB), which carries it whole.
pub const MAX_STATE_BYTES: usize = 8 << 20;

/// The replicated state: the map, and how far the log has been applied.
#[derive(Clone, Debug, Default)]
struct KvState {
    data: BTreeMap<String, String>,
    /// Sum of key and value lengths in `data`, for `MAX_STATE_BYTES`.
    bytes: usize,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

impl KvState {
    /// Sets `key` to `value` unless that breaks a size bound.
    fn set(&mut self, key: &str, value: String) -> bool {
        let old = self.data.get(key).map_or(0, |v| key.len() + v.len());
        let new = key.len() + value.len();
        let total = self.bytes - old + new;
        if value.len() > MAX_VALUE_BYTES || total > MAX_STATE_BYTES {
            return false;
        }
        self.bytes = total;
        self.data.insert(key.to_owned(), value);
        true
    }

    fn apply_command(&mut self, command: KvCommand) -> KvResponse {
        match command {
            KvCommand::Put { key, value } => self.write(&key, value),
            KvCommand::Append { key, value } => {
                let mut joined = self.data.get(&key).cloned().unwrap_or_default();
                joined.push_str(&value);
                self.write(&key, joined)
            }
            KvCommand::Cas { key, from, to } => {
                if self.data.get(&key) == from.as_ref() {
                    self.write(&key, to)
                } else {
                    self.refused(&key)
                }
            }
            KvCommand::Add { key, delta } => {
                let current = self.data.get(&key).map(|v| v.parse::<i64>());
                match current {
                    None => self.write(&key, delta.to_string()),
                    Some(Ok(n)) => self.write(&key, n.wrapping_add(delta).to_string()),
                    Some(Err(_)) => self.refused(&key),
                }
            }
        }
    }

    fn write(&mut self, key: &str, value: String) -> KvResponse {
        let response = KvResponse {
            ok: true,
            value: Some(value.clone()),
        };
        if self.set(key, value) {
            response
        } else {
            self.refused(key)
        }
    }

    fn refused(&self, key: &str) -> KvResponse {
        KvResponse {
            ok: false,
            value: self.data.get(key).cloned(),
        }
    }

    /// Applies one committed entry; its index must be past `last_applied`
    /// (a replay would apply an `Append` twice).
    fn apply_entry(&mut self, entry: Entry) -> io::Result<KvResponse> {
        let log_id = entry.log_id;
        if let Some(applied) = &self.last_applied
            && log_id.index <= applied.index
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("apply {log_id} after {applied}: entries must be applied once, in order"),
            ));
        }
        self.last_applied = Some(log_id);
        let blank = KvResponse {
            ok: true,
            value: None,
        };
        Ok(match entry.payload {
            EntryPayload::Blank => blank,
            EntryPayload::Normal(command) => self.apply_command(command),
            EntryPayload::Membership(membership) => {
                self.last_membership = StoredMembership::new(Some(log_id), membership);
                blank
            }
        })
    }
}

/// What a snapshot's bytes hold (bincode, as the network frames it).
#[derive(Serialize)]
struct PayloadRef<'a> {
    last_applied: &'a Option<LogId>,
    last_membership: &'a StoredMembership,
    data: &'a BTreeMap<String, String>,
}

/// [`PayloadRef`], owned, for decoding; same fields in the same order.
#[derive(Deserialize)]
struct Payload {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    data: BTreeMap<String, String>,
}

fn encode(state: &KvState) -> io::Result<Vec<u8>> {
    let payload = PayloadRef {
        last_applied: &state.last_applied,
        last_membership: &state.last_membership,
        data: &state.data,
    };
    let mut frame = madsim_net::frame::encode(&payload).map_err(io::Error::other)?;
    // The frame's length header is the network's business, not the disk's.
    frame.drain(..madsim_net::frame::HEADER_BYTES);
    Ok(frame)
}

/// Decodes a snapshot and checks it is the state `meta` describes.
fn decode(bytes: &[u8], meta: &SnapshotMeta) -> io::Result<KvState> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
    let payload: Payload = madsim_net::frame::decode(bytes).map_err(|e| invalid(e.to_string()))?;
    if payload.last_applied != meta.last_log_id || payload.last_membership != meta.last_membership {
        return Err(invalid(format!(
            "snapshot data does not match its meta {meta}"
        )));
    }
    let bytes = payload.data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_STATE_BYTES {
        return Err(invalid(format!(
            "snapshot holds {bytes} bytes, over {MAX_STATE_BYTES}"
        )));
    }
    Ok(KvState {
        data: payload.data,
        bytes,
        last_applied: payload.last_applied,
        last_membership: payload.last_membership,
    })
}

/// The state machine of one incarnation of a node.
#[derive(Debug)]
pub struct StateMachineStore {
    state: Arc<RwLock<KvState>>,
    mount: Mount<TypeConfig>,
    bugs: Bugs,
}

/// A read-only handle on the live state machine, kept by the node after
/// the store itself has moved into `Raft` (serve reads after
/// `Raft::ensure_linearizable`).
#[derive(Clone, Debug)]
pub struct KvReader {
    state: Arc<RwLock<KvState>>,
}

impl KvReader {
    /// The key's current value in this node's applied state.
    pub fn get(&self, key: &str) -> Option<String> {
        self.state.read().data.get(key).cloned()
    }

    /// [`KvReader::get`], for callers that expect a future.
    pub async fn read(&self, key: &str) -> Option<String> {
        self.get(key)
    }

    pub fn last_applied(&self) -> Option<LogId> {
        self.state.read().last_applied
    }
}

impl StateMachineStore {
    /// Under the planted `lost-applied` bug the state machine reloads its
    /// data file but believes it applied only up to the last snapshot, so
    /// openraft applies the entries above it a second time.
    pub fn with_bugs(mount: Mount<TypeConfig>, bugs: Bugs) -> Self {
        let mut state = KvState::default();
        if bugs.lost_applied
            && let Some(data) = load_data_file(&mount)
        {
            let snapshot = mount.disk().snapshot();
            state.bytes = data.iter().map(|(k, v)| k.len() + v.len()).sum();
            state.data = data;
            state.last_applied = snapshot.as_ref().and_then(|s| s.meta.last_log_id);
            state.last_membership = snapshot
                .map(|s| s.meta.last_membership.clone())
                .unwrap_or_default();
        }
        Self {
            state: Arc::new(RwLock::new(state)),
            mount,
            bugs,
        }
    }

    pub fn reader(&self) -> KvReader {
        KvReader {
            state: Arc::clone(&self.state),
        }
    }

    /// The key's current value in this node's applied state.
    pub fn get(&self, key: &str) -> Option<String> {
        self.reader().get(key)
    }

    pub fn last_applied(&self) -> Option<LogId> {
        self.reader().last_applied()
    }

    /// The state as the state-machine check compares it: how far it
    /// applied, and the snapshot encoding of the whole state (the map, the
    /// applied log id, the membership).
    pub fn digest(&self) -> io::Result<raft_sim::app::StateDigest<TypeConfig>> {
        let state = self.state.read();
        Ok(raft_sim::app::StateDigest {
            applied: state.last_applied,
            digest: encode(&state)?,
        })
    }
}

/// The data file the planted `lost-applied` bug writes, if there is one.
fn load_data_file(mount: &Mount<TypeConfig>) -> Option<BTreeMap<String, String>> {
    let bytes = mount.blob(DATA_FILE)?;
    madsim_net::frame::decode(bytes.get(madsim_net::frame::HEADER_BYTES..)?).ok()
}

/// Builds a snapshot from a copy of the state taken when the builder was
/// made, so applying may go on meanwhile.
#[derive(Debug)]
pub struct SnapshotBuilder {
    view: KvState,
    mount: Mount<TypeConfig>,
    bugs: Bugs,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    /// Writes the snapshot and syncs it before returning it: openraft may
    /// purge the log it covers as soon as this returns.
    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let meta = SnapshotMeta {
            last_log_id: self.view.last_applied,
            last_membership: self.view.last_membership.clone(),
        };
        let data = encode(&self.view)?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        self.mount.save_snapshot(stored, SnapshotWrite::Built)?;
        crate::store::sync(&self.mount, self.bugs).await?;
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let state = self.state.read();
        Ok((state.last_applied, state.last_membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            // The lock covers one entry and is released before responding.
            let response = self.state.write().apply_entry(entry)?;
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        if self.bugs.lost_applied {
            // Planted bug: the data is persisted (and synced), how far it
            // was applied is not.
            let data = self.state.read().data.clone();
            let bytes = madsim_net::frame::encode(&data).map_err(io::Error::other)?;
            self.mount.put_blob(DATA_FILE, bytes)?;
            crate::store::sync(&self.mount, self.bugs).await?;
        }
        Ok(())
    }

    /// Always builds: the state is in memory, a snapshot is cheap to take.
    async fn try_create_snapshot_builder(&mut self, _force: bool) -> Option<Self::SnapshotBuilder> {
        Some(self.get_snapshot_builder().await)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            view: self.state.read().clone(),
            mount: self.mount.clone(),
            bugs: self.bugs,
        }
    }

    /// Decodes first (a bad snapshot changes nothing), syncs it to disk as
    /// the current snapshot, then replaces the state.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let data = snapshot.into_inner();
        let restored = decode(&data, meta)?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.mount.save_snapshot(stored, SnapshotWrite::Install)?;
        crate::store::sync(&self.mount, self.bugs).await?;
        let mut state = self.state.write();
        if self.bugs.snapshot_keeps_state {
            // Planted bug: the snapshot's position is taken, its data is not.
            state.last_applied = restored.last_applied;
            state.last_membership = restored.last_membership;
        } else if self.bugs.snapshot_drops_membership {
            // Planted bug: everything but the membership is taken.
            let kept = std::mem::take(&mut state.last_membership);
            *state = restored;
            state.last_membership = kept;
        } else {
            *state = restored;
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(self.mount.disk().snapshot().map(|stored| Snapshot {
            meta: stored.meta.clone(),
            snapshot: Cursor::new(stored.data.clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::storage::RaftLogStorage;
    use openraft::testing::log_id;
    use openraft::type_config::TypeConfigExt;
    use openraft::{Membership, StorageHelper};

    use super::*;
    use raft_sim::store::{CrashPolicy, Disk};

    use crate::store::open;

    fn command(index: u64, command: KvCommand) -> Entry {
        Entry::new_normal(log_id::<TypeConfig>(1, 1, index), command)
    }

    fn put(key: &str, value: &str) -> KvCommand {
        KvCommand::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    fn apply_all(state: &mut KvState, commands: Vec<KvCommand>) -> Vec<KvResponse> {
        let first = state.last_applied.map_or(1, |id| id.index + 1);
        (first..)
            .zip(commands)
            .map(|(index, c)| state.apply_entry(command(index, c)).unwrap())
            .collect()
    }

    #[test]
    fn commands_answer_as_specified() {
        let mut state = KvState::default();
        let responses = apply_all(
            &mut state,
            vec![
                put("k", "a"),
                KvCommand::Append {
                    key: "k".into(),
                    value: "b".into(),
                },
                KvCommand::Append {
                    key: "new".into(),
                    value: "x".into(),
                },
                KvCommand::Cas {
                    key: "k".into(),
                    from: Some("zz".into()),
                    to: "c".into(),
                },
                KvCommand::Cas {
                    key: "k".into(),
                    from: Some("ab".into()),
                    to: "c".into(),
                },
                KvCommand::Cas {
                    key: "absent".into(),
                    from: None,
                    to: "d".into(),
                },
            ],
        );
        let got: Vec<_> = responses
            .iter()
            .map(|r| (r.ok, r.value.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (true, Some("a")),
                (true, Some("ab")),
                (true, Some("x")),
                (false, Some("ab")),
                (true, Some("c")),
                (true, Some("d")),
            ]
        );
        assert_eq!(state.bytes, "kc".len() + "newx".len() + "absentd".len());
    }

    #[test]
    fn replays_and_oversize_values_are_refused() {
        let mut state = KvState::default();
        apply_all(&mut state, vec![put("k", "a")]);
        assert!(
            state.apply_entry(command(1, put("k", "b"))).is_err(),
            "replay"
        );
        let huge = "x".repeat(MAX_VALUE_BYTES + 1);
        let response = state.apply_entry(command(2, put("k", &huge))).unwrap();
        assert_eq!((response.ok, response.value.as_deref()), (false, Some("a")));
        assert_eq!(
            state.last_applied.map(|id| id.index),
            Some(2),
            "still applied"
        );
    }

    #[test]
    fn snapshot_roundtrip_and_mismatch() {
        let mut state = KvState::default();
        apply_all(&mut state, vec![put("k", "v"), put("k2", "v2")]);
        let membership = Membership::new_with_defaults(vec![[1u64, 2].into()], []);
        let member_entry = Entry::new_membership(log_id::<TypeConfig>(1, 1, 3), membership);
        state.apply_entry(member_entry).unwrap();
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.last_membership.clone(),
        };
        let bytes = encode(&state).unwrap();
        let back = decode(&bytes, &meta).unwrap();
        assert_eq!((back.data, back.bytes), (state.data.clone(), state.bytes));
        assert_eq!(back.last_membership, state.last_membership);
        let other = SnapshotMeta {
            last_log_id: Some(log_id::<TypeConfig>(1, 1, 9)),
            ..meta.clone()
        };
        assert!(decode(&bytes, &other).is_err());
        assert!(decode(&bytes[..bytes.len() - 1], &meta).is_err());
    }

    /// A restart rebuilds the state from the synced snapshot (and openraft
    /// re-applies the log above it): the volatile state is lost with the
    /// process, the snapshot is not.
    #[test]
    fn restart_restores_the_synced_snapshot() {
        TypeConfig::run(async {
            let disk = Disk::new();
            let (mut log, mut sm) = open(disk.clone()).await;
            let entries = vec![command(1, put("a", "1")), command(2, put("b", "2"))];
            let stream = futures::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
            sm.apply(stream).await.unwrap();
            let mut builder = sm.try_create_snapshot_builder(true).await.unwrap();
            builder.build_snapshot().await.unwrap();
            log.purge(log_id::<TypeConfig>(1, 1, 2)).await.unwrap();
            disk.crash(CrashPolicy::LoseAllUnsynced);

            let (mut log, mut sm) = open(disk).await;
            assert_eq!(sm.get("a"), None, "volatile until openraft restores it");
            let initial = StorageHelper::new(&mut log, &mut sm)
                .with_id(1)
                .get_initial_state()
                .await
                .unwrap();
            assert_eq!(
                initial.snapshot_meta.last_log_id.map(|id| id.index),
                Some(2)
            );
            assert_eq!(sm.get("a").as_deref(), Some("1"));
            assert_eq!(sm.reader().get("b").as_deref(), Some("2"));
            assert_eq!(sm.last_applied().map(|id| id.index), Some(2));
        });
    }
}
