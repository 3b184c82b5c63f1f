#![cfg(all(target_os = "linux", not(madsim)))]
//! What a user relies on beyond set-up: hubs never collide (two in one
//! process, or beside another process's), the node cap holds, partitions
//! drop silently, and asking for what this kernel cannot do, or for a peer
//! the hub does not have, is one clear error.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use kernel_backend::testing::{require_root, skip};
use kernel_backend::{EngineChoice, Hub, HubConfig, KernelError, probe};
use madsim_net::LinkImpairment;
use tokio::net::{TcpListener, TcpSocket, UdpSocket};

fn hub(engine: EngineChoice, peers: usize) -> Hub {
    let mut hub = Hub::new(HubConfig {
        engine,
        ..HubConfig::default()
    })
    .expect("hub");
    hub.add_peers(peers).expect("peers");
    hub
}

/// Peer `to` of `hub` answers a UDP datagram from peer `from` with `tag`.
fn ask_tag(hub: &Hub, from: usize, to: usize, tag: &'static [u8]) -> Vec<u8> {
    let server = hub.peer_runtime(to).unwrap();
    let client = hub.peer_runtime(from).unwrap();
    let (from_ip, to_ip) = (hub.peer_ip(from).unwrap(), hub.peer_ip(to).unwrap());
    let socket = server.call(async move { UdpSocket::bind((to_ip, 7300)).await.unwrap() });
    server.spawn(async move {
        let mut buf = [0u8; 16];
        loop {
            let (_, peer) = socket.recv_from(&mut buf).await.unwrap();
            socket.send_to(tag, peer).await.unwrap();
        }
    });
    client.call(async move {
        let socket = UdpSocket::bind((from_ip, 0)).await.unwrap();
        let mut buf = [0u8; 16];
        for _ in 0..20 {
            socket.send_to(b"?", (to_ip, 7300)).await.unwrap();
            let reply = tokio::time::timeout(Duration::from_millis(250), socket.recv(&mut buf));
            if let Ok(Ok(n)) = reply.await {
                return buf[..n].to_vec();
            }
        }
        panic!("no answer from {to_ip}");
    })
}

#[test]
fn two_hubs_with_the_same_subnet_never_see_each_other() {
    if !require_root("two_hubs_with_the_same_subnet_never_see_each_other") {
        return;
    }
    let first = hub(EngineChoice::Bridge, 3);
    let second = hub(EngineChoice::Userspace, 3);
    assert_eq!(
        first.peer_ip(2).unwrap(),
        second.peer_ip(2).unwrap(),
        "same addresses on purpose"
    );
    assert_ne!(
        first.names().name(kernel_backend::names::Role::Bridge, 0),
        second.names().name(kernel_backend::names::Role::Bridge, 0)
    );
    assert_eq!(ask_tag(&first, 0, 2, b"first"), b"first");
    assert_eq!(ask_tag(&second, 0, 2, b"second"), b"second");
}

#[test]
fn a_hub_beside_another_process_hub_works() {
    if !require_root("a_hub_beside_another_process_hub_works") {
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_twinnet-net"))
        .args(["hold", "--peers", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start twinnet-net hold");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while lines.next().expect("child output").expect("utf-8") != "holding" {}
    let mine = hub(EngineChoice::Bridge, 5);
    let answer = ask_tag(&mine, 1, 4, b"mine");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(answer, b"mine");
}

#[test]
fn the_hub_holds_at_most_the_node_cap() {
    if !require_root("the_hub_holds_at_most_the_node_cap") {
        return;
    }
    let mut hub = hub(EngineChoice::Bridge, 99);
    hub.add_peer().expect("the 100th peer");
    let refused = hub.add_peer();
    assert!(
        matches!(
            refused,
            Err(KernelError::Net(madsim_net::NetError::NodeLimit {
                limit: 100
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(hub.peer_count(), 100);
}

/// A cut link drops packets silently: a connect neither succeeds nor fails
/// while it lasts (no RST, no ICMP error) and completes after the heal.
#[test]
fn partitions_drop_silently_and_heal() {
    if !require_root("partitions_drop_silently_and_heal") {
        return;
    }
    let hub = hub(EngineChoice::Userspace, 2);
    let server = hub.peer_runtime(1).unwrap();
    let client = hub.peer_runtime(0).unwrap();
    let (from, to) = (hub.peer_ip(0).unwrap(), hub.peer_ip(1).unwrap());
    let listener = server.call(async move { TcpListener::bind((to, 7400)).await.unwrap() });
    server.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    hub.set_blocked(&[(0, 1), (1, 0)]).unwrap();
    let connect = move || async move {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind((from, 0).into()).unwrap();
        socket.connect((to, 7400).into()).await
    };
    let during = client
        .call(async move { tokio::time::timeout(Duration::from_millis(1_500), connect()).await });
    assert!(
        during.is_err(),
        "a connect across a cut must hang, not {during:?}"
    );
    hub.set_blocked(&[]).unwrap();
    let after =
        client.call(async move { tokio::time::timeout(Duration::from_secs(5), connect()).await });
    assert!(matches!(after, Ok(Ok(_))), "after the heal: {after:?}");
    let totals = hub.relay_totals().expect("userspace engine");
    assert!(totals.dropped_partition > 0, "{totals:?}");
}

#[test]
fn forcing_tc_without_netem_is_one_clear_error() {
    if !require_root("forcing_tc_without_netem_is_one_clear_error") {
        return;
    }
    if probe::capabilities().netem {
        skip(
            "forcing_tc_without_netem_is_one_clear_error",
            "this kernel has netem: the error cannot happen here",
        );
        return;
    }
    let err = Hub::new(HubConfig {
        engine: EngineChoice::Tc,
        ..HubConfig::default()
    })
    .err()
    .expect("tc without netem must be refused");
    let text = err.to_string();
    assert!(
        text.contains("sch_netem") && text.contains("--engine userspace"),
        "{text}"
    );
    assert_eq!(
        probe::choose_engine(EngineChoice::Auto).unwrap(),
        kernel_backend::EngineKind::Userspace,
        "auto falls back to the userspace engine"
    );
}

#[test]
fn bad_configurations_are_refused_with_the_reason() {
    let bad_subnet = Hub::new(HubConfig {
        subnet: std::net::Ipv4Addr::new(10, 77, 0, 1),
        ..HubConfig::default()
    });
    let text = bad_subnet.err().expect("host bits set").to_string();
    assert!(text.contains("10.77.0.0/16"), "{text}");
    let tiny = Hub::new(HubConfig {
        prefix_len: 30,
        ..HubConfig::default()
    });
    assert!(tiny.err().expect("too small").to_string().contains("/30"));
    assert!("turbo".parse::<EngineChoice>().is_err());
}

/// Asking for a peer the hub does not have is a typed error naming the
/// peer and the hub's size, never a panic; the same holds for its links.
#[test]
fn unknown_peers_are_typed_errors() {
    if !require_root("unknown_peers_are_typed_errors") {
        return;
    }
    for engine in [EngineChoice::Userspace, EngineChoice::Bridge] {
        unknown_peers_are_typed_errors_on(engine);
    }
}

fn unknown_peers_are_typed_errors_on(engine: EngineChoice) {
    let hub = hub(engine, 2);
    let unknown = |result: Result<_, KernelError>| match result {
        Err(KernelError::UnknownPeer { peer: 5, peers: 2 }) => {}
        Err(other) => panic!("wrong error for peer 5: {other}"),
        Ok(_) => panic!("peer 5 of 2 was found"),
    };
    unknown(hub.peer_ip(5).map(drop));
    unknown(hub.peer_netns(5).map(drop));
    unknown(hub.peer_runtime(5).map(drop));
    unknown(hub.set_link(0, 5, LinkImpairment::lan()));
    unknown(hub.set_blocked(&[(5, 0)]));
    let text = hub.peer_ip(5).unwrap_err().to_string();
    assert!(
        text.contains("no peer 5") && text.contains("2 peer"),
        "{text}"
    );
    assert!(matches!(
        hub.set_link(1, 1, LinkImpairment::lan()),
        Err(KernelError::Config(_))
    ));
    assert_eq!(
        hub.peer_ip(1).unwrap(),
        std::net::Ipv4Addr::new(10, 77, 0, 2)
    );
}
