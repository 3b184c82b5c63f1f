//! The same scenarios on real tokio sockets over 127.x.y.z (LoopbackBackend).
#![cfg(not(madsim))]

use std::time::Duration;

use madsim_net::net::SocketAddr;
use madsim_net::scenario::{self, ECHO_PORT, ONE_WAY_PAYLOAD_BYTES};
use madsim_net::{LinkImpairment, LoopbackBackend, NetBackend, NetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn echo_over_real_tcp() {
    let mut backend = LoopbackBackend::new(1);
    let report = scenario::echo(&mut backend, LinkImpairment::none(), 200, 1024)
        .await
        .unwrap();
    assert_eq!(report.rtts.len(), 200);
    // Real loopback: well under a millisecond typically; a generous bound.
    assert!(report.max() < Duration::from_secs(1), "{:?}", report.max());
    let counters = backend.counters();
    assert_eq!(counters.connections_opened, 1, "{counters:?}");
}

#[tokio::test]
async fn one_way_partition_on_real_sockets() {
    let mut backend = LoopbackBackend::new(2);
    let report = scenario::one_way_partition(&mut backend, Duration::from_millis(800))
        .await
        .unwrap();
    assert_eq!(report.forward_bytes_during_cut, 0, "{report:?}");
    assert!(report.reverse_bytes_during_cut >= 500, "{report:?}");
    assert_eq!(
        report.forward_bytes_after_heal, ONE_WAY_PAYLOAD_BYTES,
        "{report:?}"
    );
}

#[tokio::test]
async fn timed_partition_on_real_sockets_delivers_after_heal() {
    let mut backend = LoopbackBackend::new(3);
    let heal_after = Duration::from_millis(300);
    let report =
        scenario::timed_partition(&mut backend, LinkImpairment::none(), heal_after, 128 * 1024)
            .await
            .unwrap();
    assert!(report.first_byte_after_cut >= heal_after, "{report:?}");
    assert_eq!(report.bytes_checked, 128 * 1024);
}

#[tokio::test]
async fn impairments_are_refused_with_a_clear_error() {
    let mut backend = LoopbackBackend::new(4);
    let (a, b) = scenario::add_echo_pair(&mut backend).await.unwrap();
    let err = backend
        .set_link(a, b, LinkImpairment::wan())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NetError::Unsupported {
                backend: "loopback",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("simulator"), "{err}");
    backend.clear_link(a, b).await.unwrap();
}

#[tokio::test]
async fn kill_closes_peer_streams_and_restart_rebinds() {
    let mut backend = LoopbackBackend::new(5);
    let (server, client) = scenario::add_echo_pair(&mut backend).await.unwrap();
    let addr = SocketAddr::new(backend.node_ip(server).unwrap(), ECHO_PORT);
    let connect =
        move || async move { scenario::connect_with_retry(addr).await.expect("connects") };
    let mut stream = backend.spawn_on(client, connect()).unwrap().await.unwrap();
    backend.kill(server).await.unwrap();
    let outcome = backend
        .spawn_on(client, async move {
            let mut buf = [0u8; 4];
            let _ = stream.write_all(b"ping").await;
            stream.read(&mut buf).await
        })
        .unwrap()
        .await
        .unwrap();
    assert!(
        matches!(outcome, Ok(0) | Err(_)),
        "a dead peer answered: {outcome:?}"
    );
    backend.restart(server).await.unwrap();
    let echoed = backend
        .spawn_on(client, async move {
            let mut stream = connect().await;
            stream.write_all(b"back").await.unwrap();
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        })
        .unwrap()
        .await
        .unwrap();
    assert_eq!(&echoed, b"back");
}
