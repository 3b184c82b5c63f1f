//! hyper over the simulated network (`RUSTFLAGS="--cfg madsim"`): the
//! scenarios of `common` on `SimBackend`, where time is simulated, so the
//! timing bounds are tight.
#![cfg(madsim)]

mod common;

use std::time::Duration;

use madsim_net::SimBackend;
use twinnet_http::{ConnectError, RequestError};

#[madsim::test]
async fn json_round_trip_and_plain_call() {
    common::round_trip(&mut SimBackend::new().unwrap()).await;
}

#[madsim::test]
async fn fifty_sequential_requests_use_one_connection() {
    common::pooled_connection_is_reused(&mut SimBackend::new().unwrap(), 50).await;
}

#[madsim::test]
async fn partitioned_server_times_out_then_answers_after_the_heal() {
    let heal_after = Duration::from_secs(2);
    let report = common::partition_then_heal(&mut SimBackend::new().unwrap(), heal_after).await;
    assert!(
        matches!(report.short_deadline, Err(RequestError::Timeout { after }) if after == heal_after / 4),
        "{report:?}"
    );
    assert!(
        matches!(
            report.fresh_connect,
            Err(RequestError::Connect(ConnectError::Timeout { after, .. })) if after == heal_after / 4
        ),
        "{report:?}"
    );
    assert_eq!(
        report.patient.as_ref().ok(),
        Some(&serde_json::json!({"hello": "world"})),
        "{report:?}"
    );
    // Simulated time: answered after the heal, within a few round trips.
    assert!(report.answered_after >= heal_after, "{report:?}");
    assert!(
        report.answered_after <= heal_after + Duration::from_millis(50),
        "{report:?}"
    );
}

#[madsim::test]
async fn connector_errors_are_typed() {
    let errors = common::typed_connect_errors(&mut SimBackend::new().unwrap()).await;
    assert!(
        matches!(&errors.hostname, Err(RequestError::Connect(ConnectError::Hostname { host })) if host == "raft-node-1"),
        "{errors:?}"
    );
    assert!(
        matches!(&errors.https, Err(RequestError::Connect(ConnectError::UnsupportedScheme(s))) if s == "https"),
        "{errors:?}"
    );
    assert!(
        matches!(
            &errors.refused,
            Err(RequestError::Connect(ConnectError::Io {
                kind: std::io::ErrorKind::ConnectionRefused,
                ..
            }))
        ),
        "{errors:?}"
    );
}

#[madsim::test]
async fn oversize_responses_are_typed_errors() {
    let report = common::oversize_responses(&mut SimBackend::new().unwrap()).await;
    common::assert_oversize(&report);
}

#[madsim::test]
async fn bad_connections_close_alone_and_tower_services_serve() {
    let report = common::server_robustness(&mut SimBackend::new().unwrap()).await;
    common::assert_robust(&report);
}

#[madsim::test]
async fn killed_server_fails_fast_and_serves_after_restart() {
    let report = common::kill_and_restart(&mut SimBackend::new().unwrap()).await;
    common::assert_kill(&report);
}
