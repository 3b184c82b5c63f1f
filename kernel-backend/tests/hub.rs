#![cfg(all(target_os = "linux", not(madsim)))]
//! Set-up and tear-down of hubs: traffic flows between peers, and nothing of
//! ours survives the hub.

use std::time::{Duration, Instant};

use kernel_backend::testing::{host_snapshot, require_root};
use kernel_backend::{EngineChoice, Hub, HubConfig};

fn new_hub(engine: EngineChoice) -> Hub {
    Hub::new(HubConfig {
        engine,
        ..HubConfig::default()
    })
    .expect("hub")
}

/// UDP from `from` to `to` and back through the hub.
fn udp_round_trip(hub: &Hub, from: usize, to: usize) -> Duration {
    let server = hub.peer_runtime(to).unwrap();
    let client = hub.peer_runtime(from).unwrap();
    let to_ip = hub.peer_ip(to).unwrap();
    let from_ip = hub.peer_ip(from).unwrap();
    // Bound before the first ping leaves, so a miss is the network's.
    let socket =
        server.call(async move { tokio::net::UdpSocket::bind((to_ip, 7000)).await.unwrap() });
    let echo = server.spawn(async move {
        let mut buf = [0u8; 64];
        let (n, peer) = socket.recv_from(&mut buf).await.unwrap();
        socket.send_to(&buf[..n], peer).await.unwrap();
    });
    let rtt = client.call(async move {
        let socket = tokio::net::UdpSocket::bind((from_ip, 0)).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        // Retry: the first datagram may go while ARP resolves.
        loop {
            socket.send_to(b"ping", (to_ip, 7000)).await.unwrap();
            let reply = tokio::time::timeout(Duration::from_millis(200), socket.recv(&mut buf));
            if let Ok(Ok(n)) = reply.await {
                assert_eq!(&buf[..n], b"ping");
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no echo from {to_ip}"
            );
        }
    });
    server.call(echo).unwrap();
    rtt
}

#[test]
fn peers_talk_over_the_bridge_and_leave_nothing() {
    if !require_root("peers_talk_over_the_bridge_and_leave_nothing") {
        return;
    }
    build_talk_and_tear_down(EngineChoice::Bridge);
}

/// The same with a TUN per peer and the relay carrying the packets.
#[test]
fn peers_talk_through_the_relay_and_leave_nothing() {
    if !require_root("peers_talk_through_the_relay_and_leave_nothing") {
        return;
    }
    build_talk_and_tear_down(EngineChoice::Userspace);
}

fn build_talk_and_tear_down(engine: EngineChoice) {
    let before = host_snapshot();
    for peers in [2, 10, 100] {
        let mut hub = new_hub(engine);
        let started = Instant::now();
        hub.add_peers(peers).unwrap();
        let setup = started.elapsed();
        assert_eq!(hub.peer_count(), peers);
        let rtt = udp_round_trip(&hub, 0, peers - 1);
        // The check below can fail: a live hub shows in the snapshot.
        let during = before.leftovers_in(&host_snapshot());
        assert_eq!(
            during.len(),
            peers + 1,
            "one namespace per peer plus the hub's: {during:?}"
        );
        let teardown = hub.shutdown();
        println!(
            "{engine}: {peers} peers: up {setup:?}, down {teardown:?}, first UDP round trip {rtt:?}"
        );
    }
    // Threads of the last hub may still be exiting: give them a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !before.leftovers_in(&host_snapshot()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let leftovers = before.leftovers_in(&host_snapshot());
    assert!(leftovers.is_empty(), "the hubs left {leftovers:?}");
}
