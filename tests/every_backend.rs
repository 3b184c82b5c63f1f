//! The same scenario code on whichever backend this build has: the
//! simulator under `--cfg madsim`, real loopback sockets otherwise.

use std::time::Duration;

use madsim_net::{LinkImpairment, NetBackend, scenario};

async fn echo_then_partition<B: NetBackend>(backend: &mut B) {
    let echo = scenario::echo(backend, LinkImpairment::none(), 50, 512)
        .await
        .unwrap();
    assert_eq!(echo.rtts.len(), 50);
    let heal = Duration::from_millis(200);
    let cut = scenario::timed_partition(backend, LinkImpairment::none(), heal, 32 * 1024)
        .await
        .unwrap();
    assert!(cut.first_byte_after_cut >= heal, "{cut:?}");
    let counters = backend.counters();
    assert!(counters.connections_opened >= 2, "{counters:?}");
    assert!(
        counters.stalled >= 1,
        "the cut must have stalled a stream: {counters:?}"
    );
}

#[cfg(madsim)]
#[madsim::test]
async fn echo_then_partition_in_the_simulator() {
    let mut backend = madsim_net::SimBackend::new().unwrap();
    echo_then_partition(&mut backend).await;
}

#[cfg(not(madsim))]
#[tokio::test]
async fn echo_then_partition_on_loopback() {
    let mut backend = madsim_net::LoopbackBackend::new(9);
    echo_then_partition(&mut backend).await;
}
