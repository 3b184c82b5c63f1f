//! openraft-rt's conformance suite on this crate's runtimes, and proof that
//! the madsim runtime's watch channel is deterministic.
//!
//! Under `--cfg madsim` the suite runs on `MadsimRuntime`; otherwise on the
//! tokio runtime `twinnet_rt::Runtime` names in that build. The FIFO
//! wake-order tests of the watch channel run in both builds: the channel does
//! not depend on madsim.

/// Wake order of `FifoWatch`, observed through wakers that record their id.
mod fifo {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use openraft_rt::watch::{RecvError, Watch, WatchReceiver, WatchSender};
    use parking_lot::Mutex;
    use twinnet_rt::FifoWatch;
    use twinnet_rt::watch::Receiver;

    /// A waker that appends its id to a shared log when woken.
    struct Recorder {
        id: usize,
        log: Arc<Mutex<Vec<usize>>>,
    }

    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.log.lock().push(self.id);
        }
    }

    type ChangedFut<'a> = Pin<Box<dyn Future<Output = Result<(), RecvError>> + Send + 'a>>;

    fn recorders(n: usize, log: &Arc<Mutex<Vec<usize>>>) -> Vec<Waker> {
        (0..n)
            .map(|id| {
                Waker::from(Arc::new(Recorder {
                    id,
                    log: Arc::clone(log),
                }))
            })
            .collect()
    }

    fn poll_with<F: Future + ?Sized + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
        Pin::new(fut).poll(&mut Context::from_waker(waker))
    }

    fn changed_futures(receivers: &mut [Receiver<u64>]) -> Vec<Option<ChangedFut<'_>>> {
        receivers
            .iter_mut()
            .map(|rx| Some(Box::pin(rx.changed()) as ChangedFut<'_>))
            .collect()
    }

    /// Parks the futures in `order`, each with its own recording waker.
    fn park_in_order(futures: &mut [Option<ChangedFut<'_>>], wakers: &[Waker], order: &[usize]) {
        for &id in order {
            let fut = futures[id].as_mut().expect("future present");
            assert!(poll_with(fut, &wakers[id]).is_pending(), "receiver {id}");
        }
    }

    #[test]
    fn send_wakes_waiters_in_the_order_they_parked() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let wakers = recorders(5, &log);
        let (tx, rx) = FifoWatch::channel(0_u64);
        let mut receivers: Vec<_> = (0..5).map(|_| rx.clone()).collect();
        let mut futures = changed_futures(&mut receivers);

        park_in_order(&mut futures, &wakers, &[3, 1, 4, 0, 2]);
        // Polling again keeps a waiter's place; a cancelled waiter leaves.
        park_in_order(&mut futures, &wakers, &[2, 3]);
        futures[4] = None;

        tx.send(1).expect("receivers alive");
        assert_eq!(*log.lock(), vec![3, 1, 0, 2]);

        for (id, fut) in futures.iter_mut().enumerate() {
            if let Some(fut) = fut {
                assert_eq!(poll_with(fut, &wakers[id]), Poll::Ready(Ok(())));
            }
        }
    }

    #[test]
    fn each_round_follows_its_own_parking_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let wakers = recorders(3, &log);
        let (tx, rx) = FifoWatch::channel(0_u64);
        let mut receivers: Vec<_> = (0..3).map(|_| rx.clone()).collect();

        for (value, order) in [(1, [0, 1, 2]), (2, [2, 0, 1]), (3, [1, 2, 0])] {
            log.lock().clear();
            let mut futures = changed_futures(&mut receivers);
            park_in_order(&mut futures, &wakers, &order);
            // A change that modifies nothing notifies nobody.
            assert!(!tx.send_if_modified(|_| false));
            assert!(log.lock().is_empty());
            tx.send(value).expect("receivers alive");
            assert_eq!(*log.lock(), order);
            for (id, fut) in futures.iter_mut().enumerate() {
                let fut = fut.as_mut().expect("future present");
                assert_eq!(poll_with(fut, &wakers[id]), Poll::Ready(Ok(())));
            }
        }
    }

    #[test]
    fn dropping_the_last_sender_wakes_waiters_in_order_with_an_error() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let wakers = recorders(4, &log);
        let (tx, rx) = FifoWatch::channel(0_u64);
        let tx2 = tx.clone();
        let mut receivers: Vec<_> = (0..4).map(|_| rx.clone()).collect();
        let mut futures = changed_futures(&mut receivers);

        park_in_order(&mut futures, &wakers, &[2, 0, 3, 1]);
        drop(tx);
        assert!(log.lock().is_empty(), "a sender is still alive");
        drop(tx2);
        assert_eq!(*log.lock(), vec![2, 0, 3, 1]);
        for (id, fut) in futures.iter_mut().enumerate() {
            let fut = fut.as_mut().expect("future present");
            assert_eq!(poll_with(fut, &wakers[id]), Poll::Ready(Err(RecvError(()))));
        }
    }

    #[test]
    fn an_unseen_value_wins_over_a_closed_channel() {
        let (tx, mut rx) = FifoWatch::channel(0_u64);
        tx.send(1).expect("receiver alive");
        drop(tx);
        let waker = Waker::noop();
        let mut changed = Box::pin(rx.changed());
        assert_eq!(poll_with(&mut changed, waker), Poll::Ready(Ok(())));
        drop(changed);
        let mut changed = Box::pin(rx.changed());
        assert_eq!(
            poll_with(&mut changed, waker),
            Poll::Ready(Err(RecvError(())))
        );
    }
}

/// The conformance suite and the determinism checks on the simulator.
#[cfg(madsim)]
mod simulated {
    use std::future::{Ready, pending, ready};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use madsim::runtime::Runtime as Simulation;
    use openraft_rt::AsyncRuntime;
    use openraft_rt::testing::Suite;
    use openraft_rt::watch::{Watch, WatchReceiver, WatchSender};
    use parking_lot::Mutex;
    use rand::RngExt;
    use twinnet_rt::{Elapsed, FifoWatch, MadsimRuntime, NodeInstant, Runtime};

    /// One receiver's observation: (receiver, value seen, simulated ns).
    type Trace = Vec<(u64, u64, u128)>;

    const RECEIVERS: u64 = 6;
    const SENDS: u64 = 40;

    #[test]
    fn conformance_suite() {
        Suite::<Runtime>::test_all();
    }

    /// The suite's async checks under many schedules, not just seed 0's.
    #[test]
    fn conformance_suite_over_seeds() {
        for seed in 1..=20 {
            let mut rt = MadsimRuntime::with_seed(seed);
            Suite::<MadsimRuntime>::test_all_on(&mut rt);
        }
    }

    /// Receivers in separate tasks react to a stream of values after random
    /// pauses: the trace depends on the seed, the executor's choices and the
    /// order in which the watch `W` wakes its waiters.
    async fn watch_program<W: Watch>() -> Trace
    where
        W::Receiver<u64>: 'static,
    {
        let start = Instant::now();
        let trace = Arc::new(Mutex::new(Trace::new()));
        let (tx, rx) = W::channel(0_u64);
        let mut tasks = Vec::new();
        for id in 0..RECEIVERS {
            let mut rx = rx.clone();
            let trace = Arc::clone(&trace);
            tasks.push(MadsimRuntime::spawn(async move {
                while rx.changed().await.is_ok() {
                    let value = *rx.borrow_watched();
                    trace.lock().push((id, value, start.elapsed().as_nanos()));
                    let pause = MadsimRuntime::thread_rng().random_range(0..3_u64);
                    MadsimRuntime::sleep(Duration::from_millis(pause)).await;
                }
            }));
        }
        drop(rx);
        for value in 1..=SENDS {
            tx.send(value).expect("receivers alive");
            let pause = MadsimRuntime::thread_rng().random_range(1..4_u64);
            MadsimRuntime::sleep(Duration::from_millis(pause)).await;
        }
        drop(tx);
        for task in tasks {
            task.await.expect("receiver task finished");
        }
        trace.lock().clone()
    }

    fn trace_of(seed: u64) -> Trace {
        MadsimRuntime::with_seed(seed).block_on(watch_program::<FifoWatch>())
    }

    #[test]
    fn watch_program_passes_madsims_determinism_check() {
        for seed in [0, 1, 42] {
            let trace = Simulation::check_determinism(
                seed,
                madsim::Config::default(),
                watch_program::<FifoWatch>,
            );
            assert!(!trace.is_empty());
        }
    }

    /// The same program as an ordinary `madsim::test`, so the environment
    /// knobs apply: `MADSIM_TEST_CHECK_DETERMINISM=1`, `MADSIM_TEST_SEED`,
    /// `MADSIM_TEST_NUM`.
    #[madsim::test]
    async fn watch_program_under_madsim_test() {
        let trace = watch_program::<FifoWatch>().await;
        assert!(!trace.is_empty());
    }

    /// A seed run alone on a fresh thread equals the same seed run after
    /// others on one thread (as in a `MADSIM_TEST_NUM` sweep): no state leaks
    /// from one simulation into the next.
    #[test]
    fn a_seed_alone_equals_the_seed_inside_a_sweep() {
        let seeds = 10..16_u64;
        let alone: Vec<Trace> = seeds
            .clone()
            .map(|seed| {
                std::thread::spawn(move || trace_of(seed))
                    .join()
                    .expect("simulation thread")
            })
            .collect();
        let swept: Vec<Trace> = std::thread::spawn(move || seeds.map(trace_of).collect())
            .join()
            .expect("sweep thread");
        assert_eq!(alone, swept);
    }

    /// Guards the tests above against a program that ignores its seed.
    #[test]
    fn the_watch_program_depends_on_the_seed() {
        let first = trace_of(0);
        assert!((1..8).any(|seed| trace_of(seed) != first));
        // Whatever the schedule, every receiver ends on the last value sent.
        for id in 0..RECEIVERS {
            let last = first.iter().rev().find(|&&(rx, _, _)| rx == id);
            assert_eq!(
                last.map(|&(_, value, _)| value),
                Some(SENDS),
                "receiver {id}"
            );
        }
    }

    /// Negative control: the checks above do catch a watch that is not
    /// deterministic. tokio's picks its notify slot with a process-global RNG.
    /// Ignored by default because it asserts a property of tokio's internals.
    #[test]
    #[ignore = "negative control on tokio internals; run with --ignored"]
    fn tokio_watch_fails_the_determinism_check() {
        let outcome = std::panic::catch_unwind(|| {
            Simulation::check_determinism(
                0,
                madsim::Config::default(),
                watch_program::<openraft_rt_tokio::TokioWatch>,
            )
        });
        assert!(outcome.is_err(), "tokio's watch replayed identically");
    }

    #[test]
    fn thread_rng_draws_from_the_simulation_seed() {
        let draws = |seed| {
            MadsimRuntime::with_seed(seed).block_on(async {
                let mut rng = MadsimRuntime::thread_rng();
                (0..8).map(|_| rng.random::<u64>()).collect::<Vec<_>>()
            })
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
    }

    #[test]
    fn spawn_blocking_runs_as_a_task_without_a_thread() {
        let answer = MadsimRuntime::with_seed(0).block_on(async {
            MadsimRuntime::spawn_blocking(|| 6 * 7)
                .await
                .expect("task ran")
        });
        assert_eq!(answer, 42);
    }

    /// The type OpenRaft stores for a timeout can be written down.
    fn named_timeout(
        deadline: NodeInstant,
    ) -> <MadsimRuntime as AsyncRuntime>::Timeout<u8, Ready<u8>> {
        MadsimRuntime::timeout_at(deadline, ready(7))
    }

    #[test]
    fn timeout_polls_the_future_before_the_deadline() {
        MadsimRuntime::with_seed(0).block_on(async {
            MadsimRuntime::sleep(Duration::from_millis(5)).await;
            let past = NodeInstant::now() - Duration::from_millis(1);
            assert_eq!(named_timeout(past).await, Ok(7));
        });
    }

    #[test]
    fn timeout_elapses_on_simulated_time() {
        let wall = std::time::SystemTime::now();
        MadsimRuntime::with_seed(0).block_on(async {
            let start = Instant::now();
            let hour = Duration::from_secs(3600);
            let result = MadsimRuntime::timeout(hour, pending::<()>()).await;
            assert_eq!(result, Err(Elapsed));
            assert!(start.elapsed() >= hour);
            assert!(start.elapsed() < hour + Duration::from_millis(1));
        });
        let real = wall.elapsed().unwrap_or_default();
        assert!(real < Duration::from_secs(60), "took {real:?} of real time");
    }

    /// OpenRaft computes `now - max_quorum_ack_age`; the simulated clock
    /// starts at zero, so this must not underflow-panic early in a run.
    #[test]
    fn instant_may_go_below_the_simulation_start() {
        MadsimRuntime::with_seed(0).block_on(async {
            let now = <MadsimRuntime as AsyncRuntime>::Instant::now();
            let earlier = now - Duration::from_secs(3600);
            assert!(earlier < now);
            assert_eq!(now - earlier, Duration::from_secs(3600));
        });
    }
}

/// The same suite on the tokio runtime of the plain build.
#[cfg(not(madsim))]
mod tokio_rt {
    use openraft_rt::testing::Suite;
    use twinnet_rt::Runtime;

    #[test]
    fn conformance_suite() {
        Suite::<Runtime>::test_all();
    }
}
