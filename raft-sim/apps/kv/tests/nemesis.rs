//! The nemesis against a 5-node cluster in the simulator: a `standard`
//! fault schedule for ~20 simulated seconds under a background writer, then
//! the faults stop and the cluster must recover (liveness), with election
//! safety throughout ([`LeaderWatch`]), agreeing logs and state machines,
//! and every acknowledged write readable. Over 5 seeds by default
//! (`TWINNET_SEEDS=N` for more, `TWINNET_SEED=N` for one); a `hostile`
//! schedule over 2. `TWINNET_VERBOSE=1` prints every step.
#![cfg(madsim)]

use std::time::Duration;

use example_kv::KvApp;
use example_kv::types::KvCommand;
use madsim::runtime::Runtime;
use madsim_net::time::{self, Instant};
use madsim_net::{EventKind, NetBackend, SimBackend};
use raft_sim::cluster::{Cluster, ClusterOptions};
use raft_sim::invariants::{self, LeaderWatch};
use raft_sim::nemesis::{self, ClusterControl, NemesisPreset, Outcome, Schedule};

const RUN: Duration = Duration::from_secs(20);
const RECOVERY: Duration = Duration::from_secs(30);
/// One write may take this long before the writer moves on.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// Writes the background writer issues at most.
const MAX_WRITES: usize = 2_000;

fn seeds() -> std::ops::Range<u64> {
    raft_sim::seeds::from_env(5)
}

/// What one seed's run saw, for the test's output.
#[derive(Debug)]
struct Summary {
    steps: usize,
    applied: usize,
    skipped: usize,
    acked: usize,
    terms: usize,
    liveness: Duration,
}

async fn run_seed(preset: NemesisPreset, seed: u64) -> Result<Summary, String> {
    let backend = SimBackend::new().map_err(|e| e.to_string())?;
    let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(5))
        .await
        .map_err(|e| e.to_string())?;
    cluster
        .wait_for_leader(Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let schedule = Schedule::generate(preset, 5, RUN);
    if schedule.is_empty() || !schedule.unpaired_episodes().is_empty() {
        return Err(format!("bad schedule: {schedule:?}"));
    }

    // Background writer on the client node: unique keys until the run ends.
    let mut client = cluster.client();
    let writer = cluster
        .spawn_client(async move {
            let deadline = Instant::now() + RUN;
            let mut acked = Vec::new();
            for i in 0..MAX_WRITES {
                if Instant::now() >= deadline {
                    break;
                }
                let put = KvCommand::Put {
                    key: format!("k{i}"),
                    value: format!("v{i}"),
                };
                if let Ok(Ok(response)) = time::timeout(WRITE_TIMEOUT, client.write(put)).await
                    && response.ok
                {
                    acked.push(i);
                }
                time::sleep(Duration::from_millis(20)).await;
            }
            acked
        })
        .map_err(|e| e.to_string())?;

    let mut watch = LeaderWatch::for_config::<example_kv::types::TypeConfig>();
    let (applied, acked) = watch
        .observe(&cluster, Duration::from_millis(10), async {
            let applied = nemesis::run(&cluster, &schedule, seed).await;
            (applied, writer.await)
        })
        .await;
    if std::env::var_os("TWINNET_VERBOSE").is_some() {
        for a in applied.iter().flatten() {
            eprintln!("{a}");
        }
        eprintln!("leaders by term: {:?}", watch.leaders_by_term());
    }
    let applied = applied.map_err(|e| format!("nemesis: {e}"))?;
    let acked = acked.map_err(|e| format!("writer: {e}"))?;
    if applied.len() < schedule.len() {
        return Err(format!(
            "{} of {} steps applied",
            applied.len(),
            schedule.len()
        ));
    }
    let failed: Vec<String> = applied
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Failed { .. }))
        .map(|a| a.to_string())
        .collect();
    if !failed.is_empty() {
        return Err(format!("nemesis steps failed: {failed:#?}"));
    }
    // Every step is an event in the trace.
    let is_step_note = |kind: &EventKind| matches!(kind, EventKind::Note { text } if text.starts_with("nemesis step"));
    let notes = cluster
        .backend
        .events()
        .iter()
        .filter(|e| is_step_note(&e.kind))
        .count();
    if notes != applied.len() {
        return Err(format!("{notes} nemesis notes for {} steps", applied.len()));
    }

    nemesis::stop(&cluster)
        .await
        .map_err(|e| format!("stop: {e}"))?;
    let liveness = watch
        .observe(
            &cluster,
            Duration::from_millis(10),
            invariants::liveness(&cluster, RECOVERY),
        )
        .await
        .map_err(|v| v.to_string())?;
    watch.check().map_err(|v| v.to_string())?;
    invariants::applied_prefixes_agree(&cluster, RECOVERY)
        .await
        .map_err(|v| v.to_string())?;

    // Every acknowledged write survived the crashes and partitions.
    let mut reader = cluster.client();
    let check = acked.clone();
    let lost = cluster
        .on_client(async move {
            let mut lost = Vec::new();
            for i in check {
                match reader.read(&format!("k{i}")).await {
                    Ok(Some(v)) if v == format!("v{i}") => {}
                    other => lost.push((i, format!("{other:?}"))),
                }
            }
            lost
        })
        .await
        .map_err(|e| e.to_string())?;
    if !lost.is_empty() {
        return Err(format!("acknowledged writes lost: {lost:?}"));
    }
    let skipped = applied
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Skipped { .. }))
        .count();
    Ok(Summary {
        steps: schedule.len(),
        applied: applied.len() - skipped,
        skipped,
        acked: acked.len(),
        terms: watch.leaders_by_term().len(),
        liveness,
    })
}

/// Runs [`run_seed`] under `preset` for each of `seeds`.
fn sweep(preset: NemesisPreset, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
        match runtime.block_on(run_seed(preset, seed)) {
            Ok(summary) => {
                assert!(summary.acked > 0, "seed {seed}: no write acknowledged");
                assert!(summary.applied > 0, "seed {seed}: no fault applied");
                assert!(summary.applied + summary.skipped >= summary.steps);
                assert!(summary.terms >= 1 && summary.liveness <= RECOVERY);
                eprintln!("{preset} seed {seed}: {summary:?}");
            }
            Err(err) => panic!("{preset} seed {seed}: {err} (rerun: TWINNET_SEED={seed})"),
        }
    }
}

#[test]
fn standard_nemesis_keeps_invariants_and_recovers() {
    sweep(NemesisPreset::Standard, seeds());
}

/// Hostile faults overlap (two at once, leader pauses, 25% loss, bandwidth
/// squeezes): fewer seeds, same checks.
#[test]
fn hostile_nemesis_keeps_invariants_and_recovers() {
    let seeds = seeds();
    let few = seeds.start..seeds.end.min(seeds.start + 2);
    sweep(NemesisPreset::Hostile, few);
}

/// The same seed plays the same faults: the schedules and trace hashes of
/// two runs agree.
#[test]
fn nemesis_runs_replay_per_seed() {
    let once = |seed: u64| {
        let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
        runtime.block_on(async {
            let backend = SimBackend::new().expect("simulation");
            let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(3))
                .await
                .expect("cluster");
            let schedule = Schedule::generate(NemesisPreset::Hostile, 3, Duration::from_secs(5));
            let applied = nemesis::run(&cluster, &schedule, seed).await.expect("run");
            nemesis::stop(&cluster).await.expect("stop");
            let outcomes: Vec<String> = applied.iter().map(|a| a.to_string()).collect();
            (outcomes, cluster.backend.trace_hash())
        })
    };
    let first = once(7);
    assert!(!first.0.is_empty());
    assert_eq!(first, once(7));
}

/// The voter sets of node `id`'s latest membership.
fn voter_configs(
    cluster: &Cluster<SimBackend, KvApp>,
    id: u64,
) -> Option<Vec<std::collections::BTreeSet<u64>>> {
    let metrics = cluster.metrics(id)?;
    Some(
        metrics
            .membership_config
            .membership()
            .get_joint_config()
            .clone(),
    )
}

/// A membership episode under writes: 5 voters go down to 3, the leader
/// among the removed (it must hand over once the change commits), then the
/// two come back as learners and are promoted. If the schedule ends with
/// the voters still removed, `stop` brings them back.
#[test]
fn membership_episodes_remove_voters_and_stop_restores_them() {
    use raft_sim::nemesis::{Fault, Step, Target};
    let once = |seed: u64, restore_in_episode: bool| {
        let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
        runtime.block_on(async move {
            let backend = SimBackend::new().expect("simulation");
            let cluster = Cluster::start(backend, KvApp::default(), ClusterOptions::voters(5))
                .await
                .expect("cluster");
            let first = cluster
                .wait_for_leader(Duration::from_secs(10))
                .await
                .expect("a leader");
            let mut steps = vec![Step {
                at_ms: 500,
                episode: 0,
                fault: Fault::RemoveVoters {
                    first: Target::Leader,
                    count: 2,
                },
            }];
            if restore_in_episode {
                steps.push(Step {
                    at_ms: 3_000,
                    episode: 0,
                    fault: Fault::RestoreVoters,
                });
            }
            let schedule = Schedule::new(steps).expect("a valid schedule");
            let mut client = cluster.client();
            let writer = cluster
                .spawn_client(async move {
                    let mut acked = 0;
                    for i in 0..150 {
                        let put = KvCommand::Put {
                            key: format!("k{i}"),
                            value: format!("v{i}"),
                        };
                        if let Ok(Ok(r)) = time::timeout(WRITE_TIMEOUT, client.write(put)).await
                            && r.ok
                        {
                            acked += 1;
                        }
                        time::sleep(Duration::from_millis(20)).await;
                    }
                    acked
                })
                .expect("writer");
            let applied = nemesis::run(&cluster, &schedule, seed).await.expect("run");
            let Outcome::VotersRemoved {
                removed,
                voters,
                leader_removed,
            } = &applied[0].outcome
            else {
                panic!("seed {seed}: {}", applied[0]);
            };
            assert!(
                *leader_removed && removed.contains(&first),
                "{}",
                applied[0]
            );
            assert_eq!((removed.len(), voters.len()), (2, 3));
            if !restore_in_episode {
                // Still removed: once the removed leader stepped down
                // (openraft's `removed_leader_step_down`, 150 ms after the
                // change committed), one of the remaining voters leads.
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
                    match leader {
                        Ok(leader) if voters.contains(&leader) => break,
                        _ if Instant::now() < deadline => {
                            time::sleep(Duration::from_millis(50)).await;
                        }
                        other => panic!("seed {seed}: no leader among {voters:?}: {other:?}"),
                    }
                }
            }
            let recovery = nemesis::stop(&cluster).await.expect("stop");
            let acked = writer.await.expect("writer");
            assert!(acked > 0, "seed {seed}: no write acknowledged");
            if restore_in_episode {
                assert_eq!(
                    applied[1].outcome,
                    Outcome::VotersRestored {
                        added: removed.clone()
                    }
                );
                assert!(recovery.voters_added.is_empty(), "{recovery:?}");
            } else {
                assert_eq!(&recovery.voters_added, removed);
            }
            invariants::liveness(&cluster, RECOVERY)
                .await
                .expect("liveness");
            invariants::applied_prefixes_agree(&cluster, RECOVERY)
                .await
                .expect("agreement");
            let all: std::collections::BTreeSet<u64> = (0..5).collect();
            for id in 0..5 {
                assert_eq!(
                    voter_configs(&cluster, id),
                    Some(vec![all.clone()]),
                    "node {id}"
                );
            }
        })
    };
    for seed in seeds() {
        once(seed, true);
        once(seed, false);
    }
}

/// A cluster of `voters` KV nodes in the simulation, once it has a leader.
async fn led_cluster(voters: usize) -> Cluster<SimBackend, KvApp> {
    led_cluster_of(KvApp::default(), voters).await
}

/// A cluster of `app` with `voters` voters, once it has a leader.
async fn led_cluster_of(app: KvApp, voters: usize) -> Cluster<SimBackend, KvApp> {
    let backend = SimBackend::new().expect("simulation");
    let cluster = Cluster::start(backend, app, ClusterOptions::voters(voters))
        .await
        .expect("cluster");
    cluster
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("a leader");
    cluster
}

/// Replies delayed to past the client's 2 s attempt timeout leave a write
/// on a kept connection of unknown outcome; once the delay is cleared
/// writes are acknowledged again. A slowed disk gets its normal fsync back, also when the schedule
/// ends before its episode does.
#[test]
fn client_delays_past_the_timeout_and_slow_fsyncs_come_and_go() {
    use raft_sim::nemesis::{Fault, Step, Target};
    use raft_sim::service::ClientError;
    let runtime = Runtime::with_seed_and_config(1, madsim::Config::default());
    runtime.block_on(async {
        let cluster = led_cluster(3).await;
        let step = |at_ms, episode, fault| Step {
            at_ms,
            episode,
            fault,
        };
        let schedule = Schedule::new(vec![
            step(
                100,
                0,
                Fault::DelayPastTimeout {
                    round_trip_permille: 1_300,
                },
            ),
            step(
                100,
                1,
                Fault::SlowFsync {
                    target: Target::Node(1),
                    latency_ms: 150,
                },
            ),
            step(6_000, 0, Fault::ClearDelay),
        ])
        .expect("a valid schedule");
        let normal = cluster.disk(1).expect("disk").fsync_latency();
        let mut client = cluster.client();
        let writer = cluster
            .spawn_client(async move {
                let put = |i: u32| KvCommand::Put {
                    key: format!("k{i}"),
                    value: format!("v{i}"),
                };
                // Connected before the delay: a new connection's handshake
                // would time out instead, and that attempt is safe to retry.
                let before = client.write(put(9)).await;
                assert!(before.is_ok_and(|r| r.ok), "a write before the delay");
                time::sleep(Duration::from_millis(500)).await;
                let delayed = client.write(put(0)).await;
                time::sleep(Duration::from_secs(7)).await;
                (delayed, client.write(put(1)).await)
            })
            .expect("writer");
        let applied = nemesis::run(&cluster, &schedule, 1).await.expect("run");
        assert_eq!(
            applied[0].outcome,
            Outcome::ClientDelayed {
                links: 6,
                one_way_ms: 1_300,
                jitter_ms: 100,
            }
        );
        assert_eq!(
            applied[1].outcome,
            Outcome::FsyncSlowed {
                node: 1,
                latency_ms: 150,
            }
        );
        assert_eq!(applied[2].outcome, Outcome::DelayCleared { links: 6 });
        assert_eq!(cluster.disk(1).expect("disk").fsync_latency(), normal);
        let (delayed, after) = writer.await.expect("writer");
        assert!(
            matches!(delayed, Err(ClientError::Indeterminate { .. })),
            "{delayed:?}"
        );
        assert!(after.is_ok_and(|r| r.ok), "a write after the delay");
    });
}

/// An episode of Raft RPC faults drops, duplicates and delays RPCs of the
/// harness's network while it lasts, and none after it ended.
#[test]
fn rpc_fault_episodes_hit_raft_rpcs_until_cleared() {
    use madsim_net::RpcFaults;
    use raft_sim::nemesis::{Fault, Step};
    let runtime = Runtime::with_seed_and_config(3, madsim::Config::default());
    runtime.block_on(async {
        let cluster = led_cluster(3).await;
        let faults = RpcFaults {
            drop_percent: 20.0,
            duplicate_percent: 10.0,
            delay_percent: 20.0,
            delay_max_us: 100_000,
        };
        let schedule = Schedule::new(vec![
            Step {
                at_ms: 100,
                episode: 0,
                fault: Fault::RpcFaults(faults),
            },
            Step {
                at_ms: 2_000,
                episode: 0,
                fault: Fault::ClearRpcFaults,
            },
        ])
        .expect("a valid schedule");
        let applied = nemesis::run(&cluster, &schedule, 3).await.expect("run");
        assert_eq!(applied[0].outcome, Outcome::RpcFaulted);
        assert_eq!(applied[1].outcome, Outcome::RpcFaultsCleared);
        let hit =
            |c: madsim_net::trace::Counters| (c.rpcs_dropped, c.rpcs_duplicated, c.rpcs_delayed);
        let during = hit(cluster.backend.injector().counters());
        assert!(during.0 > 0 && during.1 > 0 && during.2 > 0, "{during:?}");
        time::sleep(Duration::from_secs(2)).await;
        assert_eq!(hit(cluster.backend.injector().counters()), during);
        nemesis::stop(&cluster).await.expect("stop");
        invariants::liveness(&cluster, RECOVERY)
            .await
            .expect("liveness");
    });
}

/// A node that snapshots and purges its own log before it is killed
/// restarts from that snapshot; a state machine that drops the membership
/// when it installs a snapshot (the planted `snapshot-drops-membership`)
/// then disagrees with its own Raft, and the membership check says so.
#[test]
fn restart_from_own_snapshot_exposes_a_mislaid_membership() {
    use example_kv::bugs::{Bug, Bugs};
    use raft_sim::nemesis::{Fault, Rejoin, Step, Target};
    for bugs in [
        Bugs::none(),
        Bugs::none().with(Bug::SnapshotDropsMembership),
    ] {
        let runtime = Runtime::with_seed_and_config(1, madsim::Config::default());
        let verdict = runtime.block_on(async move {
            let cluster = led_cluster_of(KvApp::with_bugs(bugs), 3).await;
            let mut client = cluster.client();
            let writer = cluster
                .spawn_client(async move {
                    for i in 0..20 {
                        let put = KvCommand::Put {
                            key: format!("k{i}"),
                            value: format!("v{i}"),
                        };
                        assert!(client.write(put).await.is_ok_and(|r| r.ok), "write {i}");
                    }
                })
                .expect("writer");
            writer.await.expect("writer");
            let step = |at_ms, fault| Step {
                at_ms,
                episode: 0,
                fault,
            };
            let schedule = Schedule::new(vec![
                step(
                    100,
                    Fault::KillToRejoin(Target::Node(1), Rejoin::FromOwnSnapshot),
                ),
                step(
                    2_000,
                    Fault::Rejoin(Target::Node(1), Rejoin::FromOwnSnapshot),
                ),
            ])
            .expect("a valid schedule");
            let applied = nemesis::run(&cluster, &schedule, 1).await.expect("run");
            assert!(
                matches!(applied[0].outcome, Outcome::Killed { node: 1, .. }),
                "{:?}",
                applied[0].outcome
            );
            assert_eq!(
                applied[1].outcome,
                Outcome::Rejoined {
                    node: 1,
                    rejoin: Rejoin::FromOwnSnapshot,
                    reached: true,
                }
            );
            let progress = cluster.metrics(1).expect("node 1 runs");
            assert!(
                progress.purged.is_some(),
                "node 1 restarted with a purged log"
            );
            nemesis::stop(&cluster).await.expect("stop");
            invariants::liveness(&cluster, RECOVERY)
                .await
                .expect("liveness");
            invariants::applied_prefixes_agree(&cluster, RECOVERY)
                .await
                .map_err(|v| v.to_string())
        });
        if bugs.is_none() {
            verdict.expect("a clean node restarts from its snapshot with its membership");
        } else {
            let violation = verdict.expect_err("the mislaid membership is caught");
            assert!(violation.contains("membership agreement"), "{violation}");
        }
    }
}

/// A failed disk stops its node at the first failed sync (openraft takes a
/// storage error as fatal) while the others go on committing; the
/// power-cycle on a repaired disk brings it back to catch up. With every
/// disk failed no write is acknowledged until the disks are recovered, and
/// a write acknowledged before survives it.
#[test]
fn failed_disks_stop_their_nodes_until_power_cycled() {
    use raft_sim::nemesis::{Fault, Step, Target};
    let runtime = Runtime::with_seed_and_config(1, madsim::Config::default());
    runtime.block_on(async {
        let cluster = led_cluster(3).await;
        let leader = cluster
            .wait_for_leader(Duration::from_secs(10))
            .await
            .expect("a leader");
        let follower = (0..3).find(|&n| n != leader).expect("a follower");
        let step = |at_ms, episode, fault| Step {
            at_ms,
            episode,
            fault,
        };
        let schedule = Schedule::new(vec![
            step(100, 0, Fault::FailDisk(Target::Node(follower))),
            step(2_000, 0, Fault::RecoverDisks),
            step(4_000, 1, Fault::FailAllDisks),
            step(8_000, 1, Fault::RecoverDisks),
        ])
        .expect("a valid schedule");
        let mut client = cluster.client();
        let writer = cluster
            .spawn_client(async move {
                let put = |i: u32| KvCommand::Put {
                    key: "k".into(),
                    value: format!("v{i}"),
                };
                time::sleep(Duration::from_millis(500)).await;
                let one_disk_down = client.write(put(1)).await;
                time::sleep(Duration::from_millis(4_000)).await;
                let all_disks_down = client.write(put(2)).await;
                time::sleep(Duration::from_millis(6_000)).await;
                let recovered = client.write(put(3)).await;
                (one_disk_down, all_disks_down, recovered)
            })
            .expect("writer");
        let applied = nemesis::run(&cluster, &schedule, 1).await.expect("run");
        let outcomes: Vec<&Outcome> = applied.iter().map(|a| &a.outcome).collect();
        assert_eq!(
            outcomes[0],
            &Outcome::DisksFailed {
                nodes: vec![follower]
            }
        );
        assert!(
            matches!(outcomes[1], Outcome::DisksRecovered { nodes, .. } if nodes == &vec![follower]),
            "{:?}",
            outcomes[1]
        );
        assert_eq!(
            outcomes[2],
            &Outcome::DisksFailed {
                nodes: vec![0, 1, 2]
            }
        );
        assert!(
            matches!(outcomes[3], Outcome::DisksRecovered { nodes, .. } if nodes.len() == 3),
            "{:?}",
            outcomes[3]
        );
        let (one_disk_down, all_disks_down, recovered) = writer.await.expect("writer");
        assert!(
            one_disk_down.is_ok_and(|r| r.ok),
            "two of three nodes commit"
        );
        assert!(
            !all_disks_down.as_ref().is_ok_and(|r| r.ok),
            "acknowledged on failed disks: {all_disks_down:?}"
        );
        assert!(recovered.is_ok_and(|r| r.ok), "a write after the recovery");
        let mut sync_errors = 0;
        for node in 0..3 {
            let disk = cluster.disk(node).expect("disk");
            assert!(!disk.has_failed(), "node {node}'s disk repaired");
            sync_errors += disk.stats().sync_errors;
        }
        // The follower at its first append; later the leader at its own
        // (it stops before it replicates, so the followers may see none).
        let follower_errors = cluster.disk(follower).expect("disk").stats().sync_errors;
        assert!(follower_errors >= 1, "the follower saw its error");
        assert!(sync_errors > follower_errors, "the leader saw its error");
        let applied_at_leader = cluster
            .metrics(cluster.wait_for_leader(Duration::from_secs(10)).await.expect("leader"))
            .and_then(|m| m.last_applied)
            .expect("applied")
            .index;
        cluster
            .wait_applied(&[0, 1, 2], applied_at_leader, Duration::from_secs(10))
            .await
            .expect("every node caught up");
    });
}

/// Leader `leader` cut off by a `DriftClock` episode with its clock at
/// `rate_permille`: 2 s later, whether it still serves a lease read, and
/// whether its followers elected another leader meanwhile.
fn lease_read_on_a_cut_off_leader(rate_permille: u32) -> (bool, bool) {
    use openraft::raft::ReadPolicy;
    use raft_sim::nemesis::{Fault, Step, Target};
    let runtime = Runtime::with_seed_and_config(1, madsim::Config::default());
    runtime.block_on(async move {
        let cluster = led_cluster(3).await;
        let leader = cluster
            .wait_for_leader(Duration::from_secs(10))
            .await
            .expect("a leader");
        let step = |at_ms, episode, fault| Step {
            at_ms,
            episode,
            fault,
        };
        let schedule = Schedule::new(vec![
            step(
                0,
                0,
                Fault::DriftClock {
                    target: Target::Leader,
                    rate_permille,
                    isolate: true,
                },
            ),
            step(3_000, 0, Fault::RestoreClock),
        ])
        .expect("a valid schedule");
        let raft = cluster.raft(leader).await.expect("the leader runs");
        let probe = async {
            time::sleep(Duration::from_secs(2)).await;
            let another_leads = ClusterControl::leaders(&cluster)
                .iter()
                .any(|&(node, _)| node != leader);
            let lease_read = raft.ensure_linearizable(ReadPolicy::LeaseRead).await;
            (lease_read.is_ok(), another_leads)
        };
        let (applied, probed) =
            futures::future::join(nemesis::run(&cluster, &schedule, 1), probe).await;
        let applied = applied.expect("run");
        assert!(
            matches!(applied[0].outcome, Outcome::ClockDrifted { node, isolated: Some(_), .. } if node == leader),
            "{:?}",
            applied[0].outcome
        );
        // OpenRaft read the drifted clock (a true one counts no drifted reads).
        let drifted = rate_permille != 1_000;
        assert!(
            matches!(applied[1].outcome, Outcome::ClockRestored { drifted_reads, .. } if (drifted_reads > 0) == drifted),
            "{:?}",
            applied[1].outcome
        );
        let state = cluster.clock_state(leader);
        assert_eq!(state.rate_permille, 1_000, "the episode restored the clock");
        probed
    })
}

/// A slow clock reaches OpenRaft: a leader cut off from its followers
/// still trusts its lease after they elected another leader, so a lease
/// read there is stale; on a clock that keeps true time the lease has
/// run out by then.
#[test]
fn a_slow_clock_keeps_a_cut_off_leader_trusting_its_lease() {
    let (slow_lease_read, slow_successor) = lease_read_on_a_cut_off_leader(150);
    assert!(slow_successor, "the followers elected a new leader");
    assert!(
        slow_lease_read,
        "the slow leader's lease outlived the election"
    );
    let (true_lease_read, true_successor) = lease_read_on_a_cut_off_leader(1_000);
    assert!(true_successor, "the followers elected a new leader");
    assert!(
        !true_lease_read,
        "a true clock's lease ran out before the election"
    );
}

/// Resetting the client's connections while it writes leaves writes of
/// unknown outcome (the request reached the leader, the answer was lost)
/// while the cluster stays healthy: the next write is acknowledged.
#[test]
fn client_connection_resets_leave_writes_of_unknown_outcome() {
    use raft_sim::nemesis::{Fault, Step};
    use raft_sim::service::ClientError;
    let runtime = Runtime::with_seed_and_config(1, madsim::Config::default());
    runtime.block_on(async {
        let cluster = led_cluster(3).await;
        let schedule = Schedule::new(vec![Step {
            at_ms: 500,
            episode: 0,
            fault: Fault::ResetClientConnections {
                resets: 4,
                every_ms: 100,
            },
        }])
        .expect("a valid schedule");
        let mut client = cluster.client();
        let writer = cluster
            .spawn_client(async move {
                let (mut unknown, mut acked) = (0, 0);
                for i in 0..200 {
                    let put = KvCommand::Put {
                        key: "k".into(),
                        value: format!("v{i}"),
                    };
                    match client.write(put).await {
                        Ok(response) if response.ok => acked += 1,
                        Err(ClientError::Indeterminate { .. }) => unknown += 1,
                        _ => {}
                    }
                }
                (unknown, acked)
            })
            .expect("writer");
        let applied = nemesis::run(&cluster, &schedule, 1).await.expect("run");
        assert!(
            matches!(
                applied[0].outcome,
                Outcome::ClientConnectionsReset { resets: 4, streams } if streams >= 4
            ),
            "{:?}",
            applied[0].outcome
        );
        let (unknown, acked) = writer.await.expect("writer");
        assert!(unknown >= 1, "no write lost its answer to a reset");
        assert!(
            acked + unknown == 200,
            "{acked} acked, {unknown} unknown of 200"
        );
        let resets = cluster
            .backend
            .events()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::StreamReset { .. }))
            .count();
        assert!(resets >= 4, "{resets} stream resets logged");
    });
}
