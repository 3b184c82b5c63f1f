//! Scenarios written once against `NetBackend`: `tests/sim.rs` runs them on
//! the simulator, `tests/loopback.rs` on real sockets. Node tasks return what
//! they saw; the harness asserts, so a failure names the scenario's check.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use madsim_net::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use madsim_net::time::{self, Instant};
use madsim_net::{NetBackend, NodeId, Partition};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinnet_http::limits::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use twinnet_http::{
    ConnectError, ConnectionInfo, Connector, HttpClient, RequestError, Server, call, get_json,
    post_json,
};

/// The main server (plain `service_fn`).
pub const PORT: u16 = 8080;
/// The same routes through a tower `Service`, as an axum `Router` would be.
pub const TOWER_PORT: u16 = 8081;
/// The same routes on a server that takes one connection at a time.
pub const LIMITED_PORT: u16 = 8082;
/// One byte over the response bound.
pub const OVERSIZE: usize = MAX_RESPONSE_BYTES + 1;
pub const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub term: u64,
    pub payload: String,
}

/// A response body that does not declare its length (sent chunked).
pub struct Chunked {
    left: usize,
    chunk: Bytes,
}

impl Chunked {
    fn new(len: usize) -> Self {
        Chunked {
            left: len,
            chunk: Bytes::from(vec![b'z'; 64 * 1024]),
        }
    }
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len());
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
}

type ReplyBody = Either<Full<Bytes>, Chunked>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<ReplyBody> {
    let mut response = Response::new(Either::Left(Full::new(body.into())));
    *response.status_mut() = status;
    response
}

/// `POST /echo` (the body back), `GET /hello`, `GET /big` (declared
/// oversize), `GET /big-chunked` (undeclared oversize).
pub async fn routes(request: Request<Incoming>) -> Result<Response<ReplyBody>, Infallible> {
    let (parts, body) = request.into_parts();
    Ok(match (parts.method, parts.uri.path()) {
        (Method::POST, "/echo") => {
            match twinnet_http::collect_bounded(body, MAX_REQUEST_BYTES).await {
                Ok(bytes) => reply(StatusCode::OK, bytes),
                Err(err) => reply(StatusCode::PAYLOAD_TOO_LARGE, err.to_string()),
            }
        }
        (Method::GET, "/hello") => reply(StatusCode::OK, r#"{"hello":"world"}"#),
        (Method::GET, "/big") => reply(StatusCode::OK, vec![b'z'; OVERSIZE]),
        (Method::GET, "/big-chunked") => Response::new(Either::Right(Chunked::new(OVERSIZE))),
        _ => reply(StatusCode::NOT_FOUND, "no such route"),
    })
}

/// A hand-written tower service: what `axum::Router` is to hyper.
#[derive(Clone)]
struct TowerRoutes;

impl tower_service::Service<Request<Incoming>> for TowerRoutes {
    type Response = Response<ReplyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ReplyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        Box::pin(routes(request))
    }
}

async fn bind(port: u16) -> Option<TcpListener> {
    match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::error!(%err, port, "cannot bind");
            None
        }
    }
}

/// The server node's body: three servers, each on its own port.
pub async fn server_main() {
    if let Some(listener) = bind(TOWER_PORT).await {
        let tower = hyper_util::service::TowerToHyperService::new(TowerRoutes);
        madsim_net::task::spawn(twinnet_http::serve(listener, tower));
    }
    if let Some(listener) = bind(LIMITED_PORT).await {
        madsim_net::task::spawn(async move {
            Server::new()
                .max_connections(1)
                .serve(listener, service_fn(routes))
                .await
        });
    }
    if let Some(listener) = bind(PORT).await
        && let Err(err) = twinnet_http::serve(listener, service_fn(routes)).await
    {
        tracing::error!(%err, "server stopped");
    }
}

pub struct Pair {
    pub server: NodeId,
    pub client: NodeId,
    pub server_ip: IpAddr,
}

impl Pair {
    pub fn base(&self, port: u16) -> String {
        format!("http://{}", SocketAddr::new(self.server_ip, port))
    }
}

pub async fn add_pair<B: NetBackend>(backend: &mut B) -> Pair {
    let server = backend.add_node("http-server", server_main).await.unwrap();
    let client = backend
        .add_node("http-client", std::future::pending::<()>)
        .await
        .unwrap();
    let server_ip = backend.node_ip(server).unwrap();
    Pair {
        server,
        client,
        server_ip,
    }
}

pub fn uri(base: &str, path: &str) -> Uri {
    format!("{base}{path}").parse().unwrap()
}

/// Runs `future` on `node` and waits for its result.
pub async fn on<B, F>(backend: &B, node: NodeId, future: F) -> F::Output
where
    B: NetBackend,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    backend.spawn_on(node, future).unwrap().await.unwrap()
}

fn refused(err: &RequestError) -> bool {
    matches!(
        err,
        RequestError::Connect(ConnectError::Io {
            kind: io::ErrorKind::ConnectionRefused,
            ..
        })
    )
}

/// Waits (bounded) until the server at `base` answers: a node's init may
/// not have bound its port yet when the client first connects.
pub async fn wait_until_serving(client: &HttpClient, base: &str) -> Result<(), RequestError> {
    let mut backoff = Duration::from_millis(5);
    for _ in 0..30 {
        match get_json::<serde_json::Value>(client, uri(base, "/hello"), DEADLINE).await {
            Err(err) if refused(&err) => {
                time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            other => return other.map(|_| ()),
        }
    }
    Err(RequestError::Timeout { after: DEADLINE })
}

/// A JSON body goes there and back; a plain `call` sees the status and the
/// connection it used.
pub async fn round_trip<B: NetBackend>(backend: &mut B) {
    let pair = add_pair(backend).await;
    let base = pair.base(PORT);
    let sent = Message {
        term: 7,
        payload: "raft".repeat(20_000),
    };
    let message = sent.clone();
    let (echoed, status, body, info) = on(backend, pair.client, async move {
        let client = twinnet_http::client();
        wait_until_serving(&client, &base).await.unwrap();
        let echoed: Message = post_json(&client, uri(&base, "/echo"), &message, DEADLINE)
            .await
            .unwrap();
        let request = Request::get(uri(&base, "/nowhere"))
            .body(Full::default())
            .unwrap();
        let response = call(&client, request, DEADLINE).await.unwrap();
        let info = response.extensions().get::<ConnectionInfo>().copied();
        (echoed, response.status(), response.into_body(), info)
    })
    .await;
    assert_eq!(echoed, sent);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, Bytes::from_static(b"no such route"));
    let info = info.expect("the connector's ConnectionInfo is in the response");
    assert_eq!(info.peer, SocketAddr::new(pair.server_ip, PORT));
}

/// Sequential requests share one pooled keep-alive connection.
pub async fn pooled_connection_is_reused<B: NetBackend>(backend: &mut B, requests: usize) {
    let pair = add_pair(backend).await;
    let base = pair.base(PORT);
    let locals = on(backend, pair.client, async move {
        let client = twinnet_http::client();
        wait_until_serving(&client, &base).await.unwrap();
        let mut locals = BTreeSet::new();
        for term in 0..requests as u64 {
            let message = Message {
                term,
                payload: format!("entry {term}"),
            };
            let body = serde_json::to_vec(&message).unwrap();
            let request = Request::post(uri(&base, "/echo"))
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let response = call(&client, request, DEADLINE).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let echoed: Message = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(echoed, message);
            if let Some(info) = response.extensions().get::<ConnectionInfo>() {
                locals.insert(info.local);
            }
        }
        locals
    })
    .await;
    assert_eq!(locals.len(), 1, "one client connection: {locals:?}");
    let counters = backend.counters();
    assert_eq!(counters.connections_opened, 1, "{counters:?}");
}

#[derive(Debug)]
pub struct PartitionReport {
    pub short_deadline: Result<serde_json::Value, RequestError>,
    pub fresh_connect: Result<serde_json::Value, RequestError>,
    pub patient: Result<serde_json::Value, RequestError>,
    /// From the cut to the patient request's answer.
    pub answered_after: Duration,
}

/// The server is cut off for `heal_after`: a request with a short deadline
/// times out, a fresh connection's connect times out, a patient request is
/// answered once the partition heals.
pub async fn partition_then_heal<B: NetBackend>(
    backend: &mut B,
    heal_after: Duration,
) -> PartitionReport {
    let pair = add_pair(backend).await;
    let base = pair.base(PORT);
    let client = twinnet_http::client();
    let warm = client.clone();
    let warm_base = base.clone();
    on(backend, pair.client, async move {
        wait_until_serving(&warm, &warm_base).await.unwrap();
    })
    .await;
    let cut_at = Instant::now();
    backend
        .partition(
            Partition::TwoWay {
                a: pair.server,
                b: pair.client,
            },
            Some(heal_after),
        )
        .await
        .unwrap();
    let short = heal_after / 4;
    on(backend, pair.client, async move {
        let short_deadline = get_json(&client, uri(&base, "/hello"), short).await;
        let fresh = twinnet_http::client_builder()
            .build::<_, Full<Bytes>>(Connector::new().with_connect_timeout(short));
        let fresh_connect = get_json(&fresh, uri(&base, "/hello"), DEADLINE).await;
        let patient = get_json(&client, uri(&base, "/hello"), DEADLINE).await;
        PartitionReport {
            short_deadline,
            fresh_connect,
            patient,
            answered_after: cut_at.elapsed(),
        }
    })
    .await
}

#[derive(Debug)]
pub struct TypedErrors {
    pub hostname: Result<serde_json::Value, RequestError>,
    pub https: Result<serde_json::Value, RequestError>,
    pub refused: Result<serde_json::Value, RequestError>,
}

/// What the connector refuses, typed.
pub async fn typed_connect_errors<B: NetBackend>(backend: &mut B) -> TypedErrors {
    let pair = add_pair(backend).await;
    let ip = pair.server_ip;
    on(backend, pair.client, async move {
        let client = twinnet_http::client();
        let hostname = get_json(&client, uri("http://raft-node-1:8080", "/hello"), DEADLINE).await;
        let https = get_json(&client, uri(&format!("https://{ip}"), "/hello"), DEADLINE).await;
        // Nothing listens on port 9 of the server node.
        let refused = get_json(&client, uri(&format!("http://{ip}:9"), "/hello"), DEADLINE).await;
        TypedErrors {
            hostname,
            https,
            refused,
        }
    })
    .await
}

#[derive(Debug)]
pub struct OversizeReport {
    pub declared: Result<serde_json::Value, RequestError>,
    pub undeclared: Result<serde_json::Value, RequestError>,
    pub after: Result<serde_json::Value, RequestError>,
}

/// Responses over the bound, with and without `Content-Length`; the server
/// and the client go on serving afterwards.
pub async fn oversize_responses<B: NetBackend>(backend: &mut B) -> OversizeReport {
    let pair = add_pair(backend).await;
    let base = pair.base(PORT);
    on(backend, pair.client, async move {
        let client = twinnet_http::client();
        wait_until_serving(&client, &base).await.unwrap();
        let declared = get_json(&client, uri(&base, "/big"), DEADLINE).await;
        let undeclared = get_json(&client, uri(&base, "/big-chunked"), DEADLINE).await;
        let after = get_json(&client, uri(&base, "/hello"), DEADLINE).await;
        OversizeReport {
            declared,
            undeclared,
            after,
        }
    })
    .await
}

pub fn assert_oversize(report: &OversizeReport) {
    assert!(
        matches!(
            report.declared,
            Err(RequestError::ResponseTooLarge {
                limit: MAX_RESPONSE_BYTES,
                declared: Some(len),
            }) if len == OVERSIZE as u64
        ),
        "{:?}",
        report.declared
    );
    assert!(
        matches!(
            report.undeclared,
            Err(RequestError::ResponseTooLarge {
                limit: MAX_RESPONSE_BYTES,
                declared: None,
            })
        ),
        "{:?}",
        report.undeclared
    );
    assert_eq!(
        report.after.as_ref().ok(),
        Some(&serde_json::json!({"hello": "world"}))
    );
}

#[derive(Debug)]
pub struct RobustnessReport {
    /// The first bytes the server answered garbage with.
    pub garbage_answer: String,
    pub after_garbage: Result<serde_json::Value, RequestError>,
    pub tower: Result<serde_json::Value, RequestError>,
    /// What the second connection to the one-connection server read:
    /// `Ok(0)` (closed) or an error (reset), never an answer.
    pub over_limit: Result<usize, io::ErrorKind>,
    /// The first connection to the one-connection server still works.
    pub first_still_served: String,
}

async fn raw_exchange(stream: &mut TcpStream, request: &[u8]) -> io::Result<String> {
    stream.write_all(request).await?;
    let mut buf = vec![0u8; 4096];
    let n = time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    buf.truncate(n);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A malformed request closes only its own connection; a tower service is
/// served the same way; a server's connection limit closes the extra
/// connection and keeps serving the others.
pub async fn server_robustness<B: NetBackend>(backend: &mut B) -> RobustnessReport {
    let pair = add_pair(backend).await;
    let base = pair.base(PORT);
    let tower_base = pair.base(TOWER_PORT);
    let limited = SocketAddr::new(pair.server_ip, LIMITED_PORT);
    let server = SocketAddr::new(pair.server_ip, PORT);
    on(backend, pair.client, async move {
        let client = twinnet_http::client();
        wait_until_serving(&client, &base).await.unwrap();

        let mut raw = TcpStream::connect(server).await.unwrap();
        let garbage_answer = raw_exchange(&mut raw, b"THIS IS NOT HTTP\r\n\r\n")
            .await
            .unwrap_or_else(|err| format!("error: {err}"));
        let after_garbage = get_json(&client, uri(&base, "/hello"), DEADLINE).await;
        let tower = get_json(&client, uri(&tower_base, "/hello"), DEADLINE).await;

        let get = b"GET /hello HTTP/1.1\r\nhost: server\r\n\r\n";
        let mut first = TcpStream::connect(limited).await.unwrap();
        let first_answer = raw_exchange(&mut first, get).await.unwrap();
        assert!(first_answer.starts_with("HTTP/1.1 200"), "{first_answer}");
        let mut second = TcpStream::connect(limited).await.unwrap();
        let mut buf = [0u8; 64];
        let over_limit = match time::timeout(DEADLINE, async {
            // The write may or may not land before the close; the read tells.
            let _ = second.write_all(get).await;
            second.read(&mut buf).await
        })
        .await
        {
            Ok(read) => read.map_err(|err| err.kind()),
            Err(_) => Err(io::ErrorKind::TimedOut),
        };
        let first_still_served = raw_exchange(&mut first, get)
            .await
            .unwrap_or_else(|err| format!("error: {err}"));
        RobustnessReport {
            garbage_answer,
            after_garbage,
            tower,
            over_limit,
            first_still_served,
        }
    })
    .await
}

pub fn assert_robust(report: &RobustnessReport) {
    let hello = serde_json::json!({"hello": "world"});
    assert!(
        report.garbage_answer.starts_with("HTTP/1.1 400"),
        "{report:?}"
    );
    assert_eq!(
        report.after_garbage.as_ref().ok(),
        Some(&hello),
        "{report:?}"
    );
    assert_eq!(report.tower.as_ref().ok(), Some(&hello), "{report:?}");
    assert!(
        matches!(
            report.over_limit,
            Ok(0) | Err(io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
        ),
        "{report:?}"
    );
    assert!(
        report.first_still_served.starts_with("HTTP/1.1 200"),
        "{report:?}"
    );
}

#[derive(Debug)]
pub struct KillReport {
    pub while_dead: Result<serde_json::Value, RequestError>,
    pub after_restart: Result<serde_json::Value, RequestError>,
}

/// A killed server fails requests fast (no hang until the deadline); after a
/// restart the same client is served again.
pub async fn kill_and_restart<B: NetBackend>(backend: &mut B) -> KillReport {
    let pair = add_pair(backend).await;
    let base = pair.base(PORT);
    let client = twinnet_http::client();
    let (warm, warm_base) = (client.clone(), base.clone());
    on(backend, pair.client, async move {
        wait_until_serving(&warm, &warm_base).await.unwrap();
    })
    .await;
    backend.kill(pair.server).await.unwrap();
    let (dead, dead_base) = (client.clone(), base.clone());
    let while_dead = on(backend, pair.client, async move {
        get_json(&dead, uri(&dead_base, "/hello"), DEADLINE).await
    })
    .await;
    backend.restart(pair.server).await.unwrap();
    let after_restart = on(backend, pair.client, async move {
        wait_until_serving(&client, &base).await?;
        get_json(&client, uri(&base, "/hello"), DEADLINE).await
    })
    .await;
    KillReport {
        while_dead,
        after_restart,
    }
}

pub fn assert_kill(report: &KillReport) {
    assert!(
        matches!(
            report.while_dead,
            Err(RequestError::Connect(_) | RequestError::Http(_))
        ),
        "{report:?}"
    );
    assert_eq!(
        report.after_restart.as_ref().ok(),
        Some(&serde_json::json!({"hello": "world"})),
        "{report:?}"
    );
}

/// Some traffic over jittered links, for the trace hash.
pub async fn jittered_traffic<B: NetBackend>(backend: &mut B, requests: u64) {
    let pair = add_pair(backend).await;
    let link = madsim_net::LinkImpairment::builder()
        .latency_ms(5)
        .jitter_ms(4)
        .build()
        .unwrap();
    backend
        .set_link(pair.server, pair.client, link)
        .await
        .unwrap();
    backend
        .set_link(pair.client, pair.server, link)
        .await
        .unwrap();
    let base = pair.base(PORT);
    on(backend, pair.client, async move {
        let client = twinnet_http::client();
        wait_until_serving(&client, &base).await.unwrap();
        for term in 0..requests {
            let message = Message {
                term,
                payload: "e".repeat(1000 + term as usize * 100),
            };
            let echoed: Message = post_json(&client, uri(&base, "/echo"), &message, DEADLINE)
                .await
                .unwrap();
            assert_eq!(echoed, message);
        }
    })
    .await;
}
