//! The reqwest drop-in against a real server on loopback (tokio, no
//! backend): JSON both ways, the status, and the questions a caller asks
//! of an error (`is_connect`, `is_timeout`, `is_decode`, `is_builder`).
#![cfg(not(madsim))]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use madsim_net::net::TcpListener;
use twinnet_reqwest::Client;

/// `/echo` answers its body, `/slow` answers after 2 s, `/text` is not
/// JSON, anything else is a 404.
async fn routes(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let body = twinnet_http::collect_bounded(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut response = Response::new(Full::new(match path.as_str() {
        "/echo" => body,
        "/text" => Bytes::from_static(b"not json"),
        _ => Bytes::new(),
    }));
    match path.as_str() {
        "/echo" | "/text" => {}
        "/slow" => madsim_net::time::sleep(Duration::from_secs(2)).await,
        _ => *response.status_mut() = StatusCode::NOT_FOUND,
    }
    Ok(response)
}

async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(twinnet_http::serve(listener, service_fn(routes)));
    format!("http://{addr}")
}

#[tokio::test]
async fn json_round_trip_and_status() {
    let base = server().await;
    let client = Client::builder().no_proxy().build().expect("a client");
    let question = serde_json::json!({ "term": 3, "granted": true });
    let response = client
        .post(format!("{base}/echo"))
        .json(&question)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("an answer");
    assert!(response.status().is_success());
    let answer: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(answer, question);

    let missing = client
        .get(format!("{base}/nothing"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn errors_say_what_went_wrong() {
    let base = server().await;
    let client = Client::new();

    // Nothing listens on port 1 of loopback: the request never left.
    let refused = client
        .post("http://127.0.0.1:1/vote")
        .send()
        .await
        .unwrap_err();
    assert!(refused.is_connect() && !refused.is_timeout(), "{refused}");

    let slow = client
        .post(format!("{base}/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(slow.is_timeout() && !slow.is_connect(), "{slow}");

    let text = client
        .get(format!("{base}/text"))
        .send()
        .await
        .expect("an answer");
    let not_json = text.json::<serde_json::Value>().await.unwrap_err();
    assert!(not_json.is_decode(), "{not_json}");

    let bad_url = client.post("not a url").send().await.unwrap_err();
    assert!(bad_url.is_builder(), "{bad_url}");

    let host_name = client
        .post("http://raft-node-1:21001/vote")
        .send()
        .await
        .unwrap_err();
    assert!(host_name.is_connect(), "no DNS: {host_name}");
    assert!(host_name.to_string().contains("IP literal"), "{host_name}");
}
