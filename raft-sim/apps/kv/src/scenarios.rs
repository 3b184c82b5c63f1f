//! The Raft scenarios of issue B, written once against [`NetBackend`]: the
//! tests run each over many seeds in the simulator and once on real
//! loopback sockets. Each checks what it claims and returns what it saw.

use std::time::Duration;

use madsim_net::net::{SocketAddr, TcpStream};
use madsim_net::{NetBackend, Partition, time};
use tokio::io::AsyncWriteExt;

use raft_sim::cluster::{ClusterError, ClusterOptions};
use raft_sim::service::APP_PORT;
use raft_sim::wire::RAFT_PORT;

use crate::KvApp;
use crate::client::KvClient;
use crate::types::KvCommand;

type NodeId = u64;
type Cluster<B> = raft_sim::cluster::Cluster<B, KvApp>;

/// Why a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Client(#[from] raft_sim::service::ClientError),
    #[error("{0}")]
    Violated(String),
}

/// Leader election must finish within this (election timeout max is 600 ms;
/// pre-vote and a split vote or two cost a few rounds).
pub const ELECTION_BOUND: Duration = Duration::from_secs(5);
const APPLY_BOUND: Duration = Duration::from_secs(30);

fn key(i: usize) -> String {
    format!("k{i}")
}

fn value(i: usize) -> String {
    format!("v{i}")
}

/// Writes `put(k{i}, v{i})` for `range` through `client`, pausing `pause`
/// between writes; returns the indices acknowledged.
async fn put_range(
    mut client: KvClient,
    range: std::ops::Range<usize>,
    pause: Duration,
) -> Vec<usize> {
    let mut acked = Vec::new();
    for i in range {
        let put = KvCommand::Put {
            key: key(i),
            value: value(i),
        };
        if client.write(put).await.is_ok() {
            acked.push(i);
        }
        if !pause.is_zero() {
            time::sleep(pause).await;
        }
    }
    acked
}

/// [`put_range`] on the client node with a client that knows every node.
async fn write_range<B: NetBackend>(
    cluster: &Cluster<B>,
    range: std::ops::Range<usize>,
) -> Result<Vec<usize>, ScenarioError> {
    Ok(cluster
        .on_client(put_range(cluster.client(), range, Duration::ZERO))
        .await?)
}

/// Reads every acknowledged key linearizably and checks its value.
async fn check_acked<B: NetBackend>(
    cluster: &Cluster<B>,
    acked: &[usize],
) -> Result<(), ScenarioError> {
    let mut client = cluster.client();
    let acked = acked.to_vec();
    let missing = cluster
        .on_client(async move {
            let mut missing = Vec::new();
            for i in acked {
                match client.read(&key(i)).await {
                    Ok(Some(v)) if v == value(i) => {}
                    other => missing.push((i, format!("{other:?}"))),
                }
            }
            missing
        })
        .await?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ScenarioError::Violated(format!(
            "acknowledged writes lost: {missing:?}"
        )))
    }
}

/// The index node `id` has applied (0 if it is down).
fn last_applied_index<B: NetBackend>(cluster: &Cluster<B>, id: NodeId) -> u64 {
    cluster
        .metrics(id)
        .and_then(|m| m.last_applied.map(|l| l.index))
        .unwrap_or(0)
}

async fn converge<B: NetBackend>(
    cluster: &Cluster<B>,
    nodes: &[NodeId],
) -> Result<u64, ScenarioError> {
    let leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    let target = last_applied_index(cluster, leader);
    cluster.wait_applied(nodes, target, APPLY_BOUND).await?;
    Ok(target)
}

/// What [`elect_and_replicate`] saw.
#[derive(Debug, Clone)]
pub struct ElectReport {
    pub leader: NodeId,
    pub term: u64,
    pub applied_index: u64,
}

/// Scenario 1: `voters` nodes elect exactly one leader; 100 writes are
/// applied on every node.
pub async fn elect_and_replicate<B: NetBackend>(
    backend: B,
    voters: usize,
) -> Result<ElectReport, ScenarioError> {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(voters)).await?;
    let leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    let leaders: Vec<NodeId> = cluster
        .node_ids()
        .into_iter()
        .filter(|&id| {
            cluster
                .metrics(id)
                .is_some_and(|m| m.state == openraft::ServerState::Leader)
        })
        .collect();
    if leaders != [leader] {
        return Err(ScenarioError::Violated(format!(
            "leaders {leaders:?}, expected exactly [{leader}]"
        )));
    }
    let acked = write_range(&cluster, 0..100).await?;
    if acked.len() != 100 {
        return Err(ScenarioError::Violated(format!(
            "{} of 100 writes acknowledged",
            acked.len()
        )));
    }
    let applied_index = converge(&cluster, &cluster.node_ids()).await?;
    check_acked(&cluster, &acked).await?;
    let term = cluster.metrics(leader).map_or(0, |m| m.current_term);
    Ok(ElectReport {
        leader,
        term,
        applied_index,
    })
}

/// What [`leader_failover`] saw.
#[derive(Debug, Clone)]
pub struct FailoverReport {
    pub old_leader: NodeId,
    pub new_leader: NodeId,
    pub election: Duration,
}

/// Scenario 2: killing the leader elects a new one within the bound; no
/// acknowledged write is lost; the old leader restarts from its disk and
/// catches up.
pub async fn leader_failover<B: NetBackend>(backend: B) -> Result<FailoverReport, ScenarioError> {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(3)).await?;
    let old_leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    let mut acked = write_range(&cluster, 0..50).await?;
    cluster.kill(old_leader).await?;
    let killed_at = time::Instant::now();
    let new_leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    let election = killed_at.elapsed();
    if new_leader == old_leader {
        return Err(ScenarioError::Violated(
            "the killed node is still the leader".into(),
        ));
    }
    acked.extend(write_range(&cluster, 50..100).await?);
    cluster.restart(old_leader).await?;
    converge(&cluster, &cluster.node_ids()).await?;
    check_acked(&cluster, &acked).await?;
    Ok(FailoverReport {
        old_leader,
        new_leader,
        election,
    })
}

/// What [`snapshot_catch_up`] saw.
#[derive(Debug, Clone)]
pub struct CatchUpReport {
    pub lagging: NodeId,
    pub writes: usize,
    pub leader_purged_index: u64,
    pub lagging_snapshot_index: u64,
}

/// Scenario 3: a node cut off while `writes` (1,000+) happen rejoins after
/// the leader purged its log behind a snapshot, and catches up by snapshot.
pub async fn snapshot_catch_up<B: NetBackend>(
    backend: B,
    writes: usize,
) -> Result<CatchUpReport, ScenarioError> {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(3)).await?;
    let leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    let lagging = (leader + 1) % 3;
    let others: Vec<NodeId> = cluster
        .node_ids()
        .into_iter()
        .filter(|&n| n != lagging)
        .collect();
    let cut = cluster
        .partition(Partition::Split {
            side_a: vec![lagging],
            side_b: others.clone(),
        })
        .await?;
    let acked = write_range(&cluster, 0..writes).await?;
    let purged = cluster
        .metrics(cluster.wait_for_leader(ELECTION_BOUND).await?)
        .and_then(|m| m.purged.map(|p| p.index))
        .unwrap_or(0);
    let lagging_last = cluster
        .metrics(lagging)
        .and_then(|m| m.last_log_index)
        .unwrap_or(0);
    if purged <= lagging_last {
        return Err(ScenarioError::Violated(format!(
            "leader purged only up to {purged}, the lagging node has {lagging_last}: no snapshot needed"
        )));
    }
    cluster.heal(Some(cut)).await?;
    converge(&cluster, &cluster.node_ids()).await?;
    let snapshot_index = cluster
        .metrics(lagging)
        .and_then(|m| m.snapshot.map(|s| s.index))
        .unwrap_or(0);
    if snapshot_index <= lagging_last {
        return Err(ScenarioError::Violated(format!(
            "lagging node caught up without a snapshot (its snapshot index {snapshot_index})"
        )));
    }
    check_acked(&cluster, &acked).await?;
    Ok(CatchUpReport {
        lagging,
        writes,
        leader_purged_index: purged,
        lagging_snapshot_index: snapshot_index,
    })
}

/// Scenario 4: membership 3 -> 5 -> 3 while a client keeps writing.
pub async fn membership_changes<B: NetBackend>(backend: B) -> Result<Vec<NodeId>, ScenarioError> {
    let options = ClusterOptions {
        nodes: 5,
        voters: 3,
        ..ClusterOptions::voters(5)
    };
    let cluster = Cluster::start(backend, KvApp::default(), options).await?;
    cluster.wait_for_leader(ELECTION_BOUND).await?;
    let writer = cluster.spawn_client(put_range(
        cluster.client(),
        0..150,
        Duration::from_millis(10),
    ))?;
    cluster.add_learner(3).await?;
    cluster.add_learner(4).await?;
    cluster.change_membership(&[0, 1, 2, 3, 4]).await?;
    cluster.change_membership(&[2, 3, 4]).await?;
    let acked = writer.await.map_err(ClusterError::from)?;
    let leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    let voters: Vec<NodeId> = cluster
        .metrics(leader)
        .map(|m| m.membership_config.membership().voter_ids().collect())
        .unwrap_or_default();
    if voters != [2, 3, 4] {
        return Err(ScenarioError::Violated(format!(
            "voters {voters:?} after 3 -> 5 -> 3"
        )));
    }
    converge(&cluster, &[2, 3, 4]).await?;
    check_acked(&cluster, &acked).await?;
    Ok(voters)
}

/// What [`minority_partition`] saw.
#[derive(Debug, Clone)]
pub struct PartitionReport {
    pub minority: Vec<NodeId>,
    pub minority_writes_committed: usize,
    pub majority_writes_committed: usize,
}

/// Scenario 5: with 5 nodes split 2 | 3, the minority side cannot commit,
/// the majority side can; after the heal everyone converges.
pub async fn minority_partition<B: NetBackend>(
    backend: B,
) -> Result<PartitionReport, ScenarioError> {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(5)).await?;
    let leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    // Put the current leader in the minority: the hardest case.
    let minority = vec![leader, (leader + 1) % 5];
    let majority: Vec<NodeId> = cluster
        .node_ids()
        .into_iter()
        .filter(|n| !minority.contains(n))
        .collect();
    let cut = cluster
        .partition(Partition::Split {
            side_a: minority.clone(),
            side_b: majority.clone(),
        })
        .await?;
    // Writes straight to the old leader, which is cut off from a quorum.
    let minority_writes_committed = {
        let raft = cluster.raft(leader).await?;
        let mut committed = 0;
        for i in 0..5 {
            let put = KvCommand::Put {
                key: format!("minority{i}"),
                value: "x".into(),
            };
            if let Ok(Ok(_)) = time::timeout(Duration::from_secs(2), raft.client_write(put)).await {
                committed += 1;
            }
        }
        committed
    };
    // The majority elects its own leader and commits.
    let majority_client = KvClient::new(
        majority
            .iter()
            .map(|&n| {
                (
                    n,
                    SocketAddr::new(cluster.backend.node_ip(n).expect("known node"), APP_PORT),
                )
            })
            .collect(),
    );
    let acked = cluster
        .on_client(put_range(majority_client, 0..20, Duration::ZERO))
        .await?;
    cluster.heal(Some(cut)).await?;
    converge(&cluster, &cluster.node_ids()).await?;
    check_acked(&cluster, &acked).await?;
    if minority_writes_committed > 0 {
        return Err(ScenarioError::Violated(format!(
            "{minority_writes_committed} writes committed on the minority side"
        )));
    }
    Ok(PartitionReport {
        minority,
        minority_writes_committed,
        majority_writes_committed: acked.len(),
    })
}

/// Scenario 6: a follower and the leader are killed and restarted again and
/// again, losing unsynced writes at every crash; no acknowledged write is lost.
pub async fn crash_restart_loop<B: NetBackend>(
    backend: B,
    rounds: usize,
) -> Result<usize, ScenarioError> {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(3)).await?;
    let mut acked = Vec::new();
    let mut lost_writes = 0;
    for round in 0..rounds {
        let leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
        let victim = if round % 2 == 0 {
            leader
        } else {
            (leader + 1) % 3
        };
        acked.extend(write_range(&cluster, round * 20..round * 20 + 20).await?);
        lost_writes += cluster.kill(victim).await?;
        acked.extend(write_range(&cluster, round * 20 + 1000..round * 20 + 1010).await?);
        cluster.restart(victim).await?;
    }
    converge(&cluster, &cluster.node_ids()).await?;
    check_acked(&cluster, &acked).await?;
    Ok(lost_writes)
}

/// What [`garbage_frames`] saw.
#[derive(Debug, Clone)]
pub struct GarbageReport {
    pub frames_rejected: u64,
    pub writes_after: usize,
}

/// Scenario 7: garbage and oversize frames sent to a node's Raft and client
/// ports are rejected and counted while the cluster keeps committing.
pub async fn garbage_frames<B: NetBackend>(backend: B) -> Result<GarbageReport, ScenarioError> {
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(3)).await?;
    let leader = cluster.wait_for_leader(ELECTION_BOUND).await?;
    let before = cluster.backend.counters().frames_rejected;
    let ip = |n: NodeId| cluster.backend.node_ip(n).expect("known node");
    let mut targets: Vec<SocketAddr> = cluster
        .node_ids()
        .into_iter()
        .map(|n| SocketAddr::new(ip(n), RAFT_PORT))
        .collect();
    targets.push(SocketAddr::new(ip(leader), APP_PORT));
    let leader_addr = targets[leader as usize];
    cluster
        .on_client(async move {
            let oversize = ((madsim_net::limits::MAX_RPC_MESSAGE_SIZE + 1) as u32)
                .to_be_bytes()
                .to_vec();
            let mut garbage = 16u32.to_be_bytes().to_vec();
            garbage.extend_from_slice(&[0xAB; 16]);
            for addr in targets.iter().chain(std::iter::once(&leader_addr)) {
                for bytes in [&oversize, &garbage] {
                    if let Ok(mut stream) = TcpStream::connect(*addr).await {
                        let _ = stream.write_all(bytes).await;
                        let _ = stream.shutdown().await;
                        time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        })
        .await?;
    let acked = write_range(&cluster, 0..30).await?;
    check_acked(&cluster, &acked).await?;
    let frames_rejected = cluster.backend.counters().frames_rejected - before;
    if frames_rejected < 10 || acked.len() != 30 {
        return Err(ScenarioError::Violated(format!(
            "{frames_rejected} frames rejected (10 sent), {} of 30 writes after",
            acked.len()
        )));
    }
    Ok(GarbageReport {
        frames_rejected,
        writes_after: acked.len(),
    })
}
