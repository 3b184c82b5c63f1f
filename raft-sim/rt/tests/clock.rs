//! Node clocks that drift, as OpenRaft sees them through the runtime.
//! Runs only under `RUSTFLAGS="--cfg madsim"` (`cargo xtask test` does both).
#![cfg(madsim)]

use std::future::pending;
use std::time::Duration;

use madsim_net::{NetBackend, NetError, SimBackend};
use openraft_rt::{AsyncRuntime, Instant as _};
use twinnet_rt::{NodeInstant, Runtime};

const SLOW: u32 = 250;

/// A backend with nodes 0 and 1, node 0's clock at `rate_permille`.
async fn two_nodes(rate_permille: u32) -> SimBackend {
    let mut backend = SimBackend::new().unwrap();
    for name in ["drifting", "true"] {
        backend
            .add_node(name, std::future::pending::<()>)
            .await
            .unwrap();
    }
    backend.set_clock_rate(0, rate_permille).unwrap();
    backend
}

/// Runs `body` on `node` and returns its output.
async fn on<T: Send + 'static>(
    backend: &SimBackend,
    node: u64,
    body: impl Future<Output = T> + Send + 'static,
) -> T {
    backend.spawn_on(node, body).unwrap().await.unwrap()
}

/// How far the node's runtime clock advanced while `sim` of simulated time passed.
async fn local_elapsed(backend: &SimBackend, node: u64, sim: Duration) -> Duration {
    on(backend, node, async move {
        let start = NodeInstant::now();
        madsim::time::sleep(sim).await;
        start.elapsed()
    })
    .await
}

/// How much simulated time the future `wait` makes took on `node` (made
/// there: a sleep's deadline is on the clock of the node that made it).
async fn sim_taken<F: Future + Send + 'static>(
    backend: &SimBackend,
    node: u64,
    wait: impl FnOnce() -> F + Send + 'static,
) -> Duration {
    on(backend, node, async move {
        let start = madsim::time::Instant::now();
        wait().await;
        start.elapsed()
    })
    .await
}

/// `actual` is `expected`, give or take the few microseconds madsim adds
/// per poll.
fn about(actual: Duration, expected: Duration) -> bool {
    actual.abs_diff(expected) < Duration::from_millis(2)
}

#[madsim::test]
async fn each_node_reads_its_own_clock() {
    let backend = two_nodes(SLOW).await;
    let sim = Duration::from_secs(4);
    let slow = local_elapsed(&backend, 0, sim).await;
    assert!(about(slow, Duration::from_secs(1)), "{slow:?}");
    let true_clock = local_elapsed(&backend, 1, sim).await;
    assert!(about(true_clock, sim), "{true_clock:?}");
    // Behind by three quarters of what passed since the rate was set.
    let skew_ns = backend.clock_state(0).skew_ns;
    assert!(
        (-8_000_000_000..=-6_000_000_000).contains(&skew_ns),
        "skew {skew_ns} ns"
    );
    assert_eq!(backend.clock_state(1), Default::default());
    // Node 0's code read its clock twice; the drift reached it.
    assert_eq!(backend.clock_state(0).drifted_reads, 2);
    assert_eq!(backend.clock_state(0).rate_permille, SLOW);
}

#[madsim::test]
async fn sleeps_and_timeouts_wait_on_the_node_clock() {
    let backend = two_nodes(SLOW).await;
    let slept = sim_taken(&backend, 0, || Runtime::sleep(Duration::from_secs(1))).await;
    assert!(
        about(slept, Duration::from_secs(4)),
        "a 1 s sleep at 250\u{2030} took {slept:?} of simulated time"
    );
    let timed_out = sim_taken(&backend, 0, || {
        Runtime::timeout(Duration::from_millis(500), pending::<()>())
    })
    .await;
    assert!(
        about(timed_out, Duration::from_secs(2)),
        "a 500 ms timeout at 250\u{2030} took {timed_out:?}"
    );
    let on_true = sim_taken(&backend, 1, || Runtime::sleep(Duration::from_secs(1))).await;
    assert!(about(on_true, Duration::from_secs(1)), "{on_true:?}");
}

#[madsim::test]
async fn a_sleep_whose_clock_slows_under_it_sleeps_on() {
    let backend = two_nodes(1_000).await;
    let sleeper = backend
        .spawn_on(0, async {
            let start = madsim::time::Instant::now();
            let local = NodeInstant::now();
            Runtime::sleep(Duration::from_secs(2)).await;
            (start.elapsed(), local.elapsed())
        })
        .unwrap();
    madsim::time::sleep(Duration::from_secs(1)).await;
    // One second left on the node's clock, now at half speed: two more.
    backend.set_clock_rate(0, 500).unwrap();
    let (sim, local) = sleeper.await.unwrap();
    assert!(about(sim, Duration::from_secs(3)), "{sim:?}");
    assert!(local >= Duration::from_secs(2), "woke early: {local:?}");
}

#[madsim::test]
async fn a_clock_changing_rate_neither_jumps_nor_runs_back() {
    let backend = two_nodes(SLOW).await;
    let reads = on(&backend, 0, async { NodeInstant::now() }).await;
    madsim::time::sleep(Duration::from_secs(2)).await;
    backend.set_clock_rate(0, 4_000).unwrap();
    let after_fast = on(&backend, 0, async { NodeInstant::now() }).await;
    assert!(about(after_fast - reads, Duration::from_millis(500)));
    madsim::time::sleep(Duration::from_secs(1)).await;
    backend.set_clock_rate(0, 1_000).unwrap();
    let after_true = on(&backend, 0, async { NodeInstant::now() }).await;
    assert!(about(after_true - after_fast, Duration::from_secs(4)));
    // Back at true rate, the clock keeps the lead it built up.
    let lead_ns = backend.clock_state(0).skew_ns;
    let drifted_reads = backend.clock_state(0).drifted_reads;
    let elapsed = local_elapsed(&backend, 0, Duration::from_secs(1)).await;
    // Reads at true rate are not drifted reads.
    assert_eq!(backend.clock_state(0).drifted_reads, drifted_reads);
    assert!(about(elapsed, Duration::from_secs(1)), "{elapsed:?}");
    assert!(backend.clock_state(0).skew_ns.abs_diff(lead_ns) < 2_000_000);
    // 0.5 s at 250 and 4 s at 4000 over 3 s: 1.5 s ahead.
    assert!(lead_ns.abs_diff(1_500_000_000) < 2_000_000, "{lead_ns}");
}

#[madsim::test]
async fn a_rate_out_of_bounds_is_refused() {
    let backend = two_nodes(1_000).await;
    for rate_permille in [0, 99, 10_001] {
        assert_eq!(
            backend.set_clock_rate(0, rate_permille),
            Err(NetError::ClockRate { rate_permille })
        );
    }
    assert_eq!(
        backend.set_clock_rate(9, 500),
        Err(NetError::UnknownNode(9))
    );
}
