#![cfg(all(target_os = "linux", not(madsim)))]
//! madsim-net's scenarios, written once for every backend, on
//! `KernelBackend`: link impairments and partitions set through the
//! `NetBackend` trait reach real packets (here through the engine `auto`
//! picks), timed heals included.

use std::time::Duration;

use kernel_backend::testing::{auto_backend, require_root};
use madsim_net::scenario::{self, ONE_WAY_PAYLOAD_BYTES};
use madsim_net::{LinkImpairment, NetBackend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_pays_the_configured_latency_each_way() {
    if !require_root("echo_pays_the_configured_latency_each_way") {
        return;
    }
    let mut backend = auto_backend(1);
    let latency = LinkImpairment::builder().latency_ms(10).build().unwrap();
    let report = scenario::echo(&mut backend, latency, 40, 512)
        .await
        .unwrap();
    let mut rtts = report.rtts.clone();
    rtts.sort();
    let median = rtts[rtts.len() / 2];
    println!(
        "echo over 10 ms each way: min {:?}, median {median:?}",
        report.min()
    );
    assert!(
        report.min() >= Duration::from_millis(20),
        "{:?}",
        report.min()
    );
    assert!(median < Duration::from_millis(22), "{median:?}");
    assert!(
        !backend.injector().impaired_links().is_empty(),
        "the injector records what the engine applies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_partition_heals_by_itself_in_the_network() {
    if !require_root("a_timed_partition_heals_by_itself_in_the_network") {
        return;
    }
    let mut backend = auto_backend(2);
    let heal_after = Duration::from_millis(500);
    let report =
        scenario::timed_partition(&mut backend, LinkImpairment::none(), heal_after, 64 * 1024)
            .await
            .unwrap();
    println!("{report:?}");
    assert!(report.first_byte_after_cut >= heal_after, "{report:?}");
    assert_eq!(report.bytes_checked, 64 * 1024);
    let hub = backend.hub().read();
    let totals = hub.relay_totals();
    if let Some(totals) = totals {
        assert!(totals.dropped_partition > 0, "{totals:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_partition_cuts_one_direction_only() {
    if !require_root("a_one_way_partition_cuts_one_direction_only") {
        return;
    }
    let mut backend = auto_backend(3);
    let report = scenario::one_way_partition(&mut backend, Duration::from_millis(800))
        .await
        .unwrap();
    println!("{report:?}");
    assert_eq!(report.forward_bytes_during_cut, 0, "{report:?}");
    // The server's bytes still arrive, fewer than over loopback's model:
    // the client's ACKs are cut too, so Nagle holds the server's small
    // writes and they come in bursts paced by its retransmission timer.
    // A two-way cut would give zero.
    assert!(report.reverse_bytes_during_cut > 0, "{report:?}");
    assert_eq!(
        report.forward_bytes_after_heal, ONE_WAY_PAYLOAD_BYTES,
        "{report:?}"
    );
}
