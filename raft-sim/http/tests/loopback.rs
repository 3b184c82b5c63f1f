//! hyper over real sockets: the scenarios of `common` on `LoopbackBackend`
//! (one thread and tokio runtime per node on 127.x.y.z). Real time, so the
//! timing bounds are generous.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use madsim_net::LoopbackBackend;
use twinnet_http::{ConnectError, RequestError};

#[tokio::test]
async fn json_round_trip_and_plain_call() {
    common::round_trip(&mut LoopbackBackend::new(1)).await;
}

#[tokio::test]
async fn fifty_sequential_requests_use_one_connection() {
    common::pooled_connection_is_reused(&mut LoopbackBackend::new(2), 50).await;
}

#[tokio::test]
async fn partitioned_server_times_out_then_answers_after_the_heal() {
    let heal_after = Duration::from_millis(800);
    let report = common::partition_then_heal(&mut LoopbackBackend::new(3), heal_after).await;
    assert!(
        matches!(report.short_deadline, Err(RequestError::Timeout { .. })),
        "{report:?}"
    );
    assert!(
        matches!(
            report.fresh_connect,
            Err(RequestError::Connect(ConnectError::Timeout { .. }))
        ),
        "{report:?}"
    );
    assert_eq!(
        report.patient.as_ref().ok(),
        Some(&serde_json::json!({"hello": "world"})),
        "{report:?}"
    );
    assert!(report.answered_after >= heal_after, "{report:?}");
    assert!(
        report.answered_after < heal_after + Duration::from_secs(5),
        "{report:?}"
    );
}

#[tokio::test]
async fn connector_errors_are_typed() {
    let errors = common::typed_connect_errors(&mut LoopbackBackend::new(4)).await;
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

#[tokio::test]
async fn oversize_responses_are_typed_errors() {
    let report = common::oversize_responses(&mut LoopbackBackend::new(5)).await;
    common::assert_oversize(&report);
}

#[tokio::test]
async fn bad_connections_close_alone_and_tower_services_serve() {
    let report = common::server_robustness(&mut LoopbackBackend::new(6)).await;
    common::assert_robust(&report);
}

#[tokio::test]
async fn killed_server_fails_fast_and_serves_after_restart() {
    let report = common::kill_and_restart(&mut LoopbackBackend::new(7)).await;
    common::assert_kill(&report);
}

/// Off any backend node the connector is plain tokio on 127.0.0.1.
#[tokio::test]
async fn plain_sockets_without_a_backend() {
    use hyper::service::service_fn;
    let listener = madsim_net::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(twinnet_http::serve(listener, service_fn(common::routes)));
    let client = twinnet_http::client();
    let hello: serde_json::Value = twinnet_http::get_json(
        &client,
        common::uri(&format!("http://{addr}"), "/hello"),
        common::DEADLINE,
    )
    .await
    .unwrap();
    assert_eq!(hello, serde_json::json!({"hello": "world"}));
    server.abort();
}
