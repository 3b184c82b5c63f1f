//! The madsim-net scenarios: small, checked network exchanges written once
//! against [`NetBackend`], run by the tests on every backend and swept over
//! seeds by `raft-sim net-sweep`.
//!
//! Each scenario adds its own nodes, measures in the backend's clock
//! (simulated under madsim) and returns a report; it fails with a
//! [`ScenarioError`] when a byte is lost, duplicated or reordered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{SocketAddr, TcpListener, TcpStream};
use crate::time::{self, Instant};
use crate::{LinkImpairment, NetBackend, NetError, NodeId, Partition};

/// Port of the echo server every scenario uses.
pub const ECHO_PORT: u16 = 7000;

/// Why a scenario failed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("stream corrupted: {0}")]
    Corrupted(String),
    #[error("timed out: {0}")]
    TimedOut(String),
    #[error("unexpected: {0}")]
    Unexpected(String),
}

impl From<std::io::Error> for ScenarioError {
    fn from(err: std::io::Error) -> Self {
        ScenarioError::Net(NetError::from(err))
    }
}

/// Echoes every byte back on every accepted connection, until killed.
pub async fn echo_server() {
    let Ok(listener) = TcpListener::bind(("0.0.0.0", ECHO_PORT)).await else {
        tracing::error!("echo server cannot bind port {ECHO_PORT}");
        return;
    };
    while let Ok((stream, _)) = listener.accept().await {
        crate::task::spawn(async move {
            let (mut read, mut write) = stream.into_split();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = read.read(&mut buf).await {
                if n == 0 || write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Adds an echo server node and an idle client node; returns (server, client).
pub async fn add_echo_pair<B: NetBackend>(backend: &mut B) -> Result<(NodeId, NodeId), NetError> {
    let server = backend.add_node("echo-server", echo_server).await?;
    let client = backend
        .add_node("client", std::future::pending::<()>)
        .await?;
    Ok((server, client))
}

/// Impairs both directions between `a` and `b`.
pub async fn impair_both<B: NetBackend>(
    backend: &B,
    a: NodeId,
    b: NodeId,
    impairment: LinkImpairment,
) -> Result<(), NetError> {
    backend.set_link(a, b, impairment).await?;
    backend.set_link(b, a, impairment).await
}

/// Connects to `addr`, retrying a refused connection (the server may still
/// be binding) with bounded backoff.
pub async fn connect_with_retry(addr: SocketAddr) -> Result<TcpStream, ScenarioError> {
    // The server node may still be binding: a bounded retry with backoff.
    let mut backoff = Duration::from_millis(5);
    for _ in 0..20 {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ScenarioError::TimedOut(format!("connect to {addr}")))
}

/// Round-trip times of one echo exchange.
#[derive(Debug, Clone)]
pub struct EchoReport {
    pub rtts: Vec<Duration>,
}

impl EchoReport {
    pub fn min(&self) -> Duration {
        self.rtts.iter().copied().min().unwrap_or_default()
    }
    pub fn max(&self) -> Duration {
        self.rtts.iter().copied().max().unwrap_or_default()
    }
}

/// `rounds` request/response exchanges of `message_bytes` each, every
/// response checked byte for byte.
pub async fn echo<B: NetBackend>(
    backend: &mut B,
    impairment: LinkImpairment,
    rounds: usize,
    message_bytes: usize,
) -> Result<EchoReport, ScenarioError> {
    let (server, client) = add_echo_pair(backend).await?;
    impair_both(backend, server, client, impairment).await?;
    let addr = SocketAddr::new(backend.node_ip(server)?, ECHO_PORT);
    let task = backend.spawn_on(client, async move {
        let mut stream = connect_with_retry(addr).await?;
        let mut rtts = Vec::with_capacity(rounds);
        let mut reply = vec![0u8; message_bytes];
        for round in 0..rounds {
            let request = pattern(round as u64, message_bytes);
            let start = Instant::now();
            stream.write_all(&request).await?;
            stream.read_exact(&mut reply).await?;
            rtts.push(start.elapsed());
            if reply != request {
                return Err(ScenarioError::Corrupted(format!(
                    "round {round}: reply differs"
                )));
            }
        }
        Ok(EchoReport { rtts })
    });
    task?.await?
}

/// A deterministic byte pattern; a lost, doubled or moved byte breaks it.
pub fn pattern(stream_offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| ((stream_offset.wrapping_mul(131) + i) % 251) as u8)
        .collect()
}

/// Sends `bytes` client -> server and waits for them all to come back;
/// returns the simulated time from first write to last byte echoed.
pub async fn bulk_round_trip<B: NetBackend>(
    backend: &mut B,
    forward: LinkImpairment,
    bytes: usize,
) -> Result<Duration, ScenarioError> {
    let (server, client) = add_echo_pair(backend).await?;
    backend.set_link(client, server, forward).await?;
    let addr = SocketAddr::new(backend.node_ip(server)?, ECHO_PORT);
    let task = backend.spawn_on(client, async move {
        let stream = connect_with_retry(addr).await?;
        let (mut read, mut write) = stream.into_split();
        let data = pattern(0, bytes);
        let expected = data.clone();
        let start = Instant::now();
        let writer = crate::task::spawn(async move { write.write_all(&data).await.map(|_| write) });
        let mut echoed = vec![0u8; bytes];
        read.read_exact(&mut echoed).await?;
        let elapsed = start.elapsed();
        writer
            .await
            .map_err(|e| ScenarioError::Unexpected(e.to_string()))??;
        if echoed != expected {
            return Err(ScenarioError::Corrupted("bulk bytes differ".into()));
        }
        Ok(elapsed)
    });
    task?.await?
}

/// What happened around a timed partition.
#[derive(Debug, Clone)]
pub struct PartitionReport {
    /// When the partition was set, since the client connected.
    pub cut_at: Duration,
    /// When the first echoed byte came back after the cut.
    pub first_byte_after_cut: Duration,
    pub bytes_checked: usize,
}

/// Cuts client <-> server for `heal_after` while the client streams; every
/// byte must then arrive once, in order, and none before the heal.
pub async fn timed_partition<B: NetBackend>(
    backend: &mut B,
    impairment: LinkImpairment,
    heal_after: Duration,
    bytes: usize,
) -> Result<PartitionReport, ScenarioError> {
    let (server, client) = add_echo_pair(backend).await?;
    impair_both(backend, server, client, impairment).await?;
    let addr = SocketAddr::new(backend.node_ip(server)?, ECHO_PORT);
    // Connect and prove the path works before the cut.
    let stream = backend
        .spawn_on(client, async move {
            let mut stream = connect_with_retry(addr).await?;
            let probe = pattern(9, 16);
            let mut reply = [0u8; 16];
            stream.write_all(&probe).await?;
            stream.read_exact(&mut reply).await?;
            if reply[..] != probe[..] {
                return Err(ScenarioError::Corrupted("probe reply differs".into()));
            }
            Ok(stream)
        })?
        .await??;
    let start = Instant::now();
    backend
        .partition(
            Partition::TwoWay {
                a: server,
                b: client,
            },
            Some(heal_after),
        )
        .await?;
    let cut_at = start.elapsed();
    let task = backend.spawn_on(client, async move {
        let (mut read, mut write) = stream.into_split();
        let data = pattern(1, bytes);
        let expected = data.clone();
        let writer = crate::task::spawn(async move { write.write_all(&data).await.map(|_| write) });
        let mut first = [0u8; 1];
        read.read_exact(&mut first).await?;
        let first_byte = start.elapsed();
        let mut rest = vec![0u8; bytes - 1];
        read.read_exact(&mut rest).await?;
        writer
            .await
            .map_err(|e| ScenarioError::Unexpected(e.to_string()))??;
        if first[0] != expected[0] || rest[..] != expected[1..] {
            return Err(ScenarioError::Corrupted("bytes after heal differ".into()));
        }
        Ok(PartitionReport {
            cut_at,
            first_byte_after_cut: first_byte,
            bytes_checked: bytes,
        })
    });
    task?.await?
}

/// Outcome of a one-way partition `client -> server`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OneWayReport {
    /// Bytes the server got from the client while the cut held.
    pub forward_bytes_during_cut: u64,
    /// Bytes the client got from the server while the cut held.
    pub reverse_bytes_during_cut: u64,
    /// Bytes the server had got from the client shortly after the heal.
    pub forward_bytes_after_heal: u64,
}

/// Port of the ticker server of [`one_way_partition`].
pub const TICKER_PORT: u16 = 7001;

/// Bytes the client writes during the cut of [`one_way_partition`].
pub const ONE_WAY_PAYLOAD_BYTES: u64 = 5;

/// On each connection: counts what it receives into `received` and sends
/// 100 bytes every 100 ms until the connection breaks.
async fn ticker_server(received: Arc<AtomicU64>) {
    let Ok(listener) = TcpListener::bind(("0.0.0.0", TICKER_PORT)).await else {
        tracing::error!("ticker server cannot bind port {TICKER_PORT}");
        return;
    };
    while let Ok((stream, _)) = listener.accept().await {
        let (mut read, mut write) = stream.into_split();
        let received = Arc::clone(&received);
        crate::task::spawn(async move {
            let mut buf = [0u8; 1024];
            while let Ok(n) = read.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                received.fetch_add(n as u64, Ordering::SeqCst);
            }
        });
        crate::task::spawn(async move {
            while write.write_all(&[7u8; 100]).await.is_ok() {
                time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
}

/// Cuts client -> server only, for `hold`: the client's bytes must not
/// arrive, the server's must; after the heal the client's arrive.
pub async fn one_way_partition<B: NetBackend>(
    backend: &mut B,
    hold: Duration,
) -> Result<OneWayReport, ScenarioError> {
    let received = Arc::new(AtomicU64::new(0));
    let server_count = Arc::clone(&received);
    let server = backend
        .add_node("ticker-server", move || {
            ticker_server(Arc::clone(&server_count))
        })
        .await?;
    let client = backend
        .add_node("client", std::future::pending::<()>)
        .await?;
    let addr = SocketAddr::new(backend.node_ip(server)?, TICKER_PORT);
    let stream = backend
        .spawn_on(client, async move { connect_with_retry(addr).await })?
        .await??;
    let cut = backend
        .partition(
            Partition::OneWay {
                from: client,
                to: server,
            },
            None,
        )
        .await?;
    let task = backend.spawn_on(client, async move {
        let (mut read, mut write) = stream.into_split();
        // A real sender may block in the cut (loopback) or buffer (simulator).
        let writer = crate::task::spawn(async move {
            write
                .write_all(&[1u8; ONE_WAY_PAYLOAD_BYTES as usize])
                .await
                .map(|_| write)
        });
        let mut reverse = 0u64;
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + hold;
        while let Ok(Ok(n)) = time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            read.read(&mut buf),
        )
        .await
        {
            if n == 0 {
                break;
            }
            reverse += n as u64;
        }
        Ok::<_, ScenarioError>((reverse, read, writer))
    })?;
    let (reverse, read, writer) = task.await??;
    let forward_during = received.load(Ordering::SeqCst);
    backend.heal(Some(cut)).await?;
    backend
        .spawn_on(client, async move {
            let write = writer
                .await
                .map_err(|e| ScenarioError::Unexpected(e.to_string()))??;
            time::sleep(Duration::from_millis(200)).await;
            drop((read, write));
            Ok::<_, ScenarioError>(())
        })?
        .await??;
    Ok(OneWayReport {
        forward_bytes_during_cut: forward_during,
        reverse_bytes_during_cut: reverse,
        forward_bytes_after_heal: received.load(Ordering::SeqCst),
    })
}

/// The settings of one seed of the chaos case, drawn from the seed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChaosConfig {
    pub impairment: LinkImpairment,
    pub partition_ms: u64,
    pub echo_rounds: usize,
    pub partition_bytes: usize,
}

impl ChaosConfig {
    /// Draws a configuration from the current RNG (the seed's, in the simulator).
    pub fn draw() -> Result<Self, NetError> {
        use crate::rand::Rng;
        let mut rng = crate::rand::thread_rng();
        let latency_ms = rng.gen_range(1..=40u64);
        let rate = if rng.gen_bool(0.5) {
            rng.gen_range(1..=100u64) * 1_000_000
        } else {
            0
        };
        let impairment = LinkImpairment::builder()
            .latency_ms(latency_ms)
            .jitter_ms(rng.gen_range(0..=latency_ms))
            .loss_percent(f64::from(rng.gen_range(0..=30u32)) / 10.0)
            .duplicate_percent(f64::from(rng.gen_range(0..=20u32)) / 10.0)
            .reorder_percent(f64::from(rng.gen_range(0..=50u32)) / 10.0)
            .corrupt_percent(f64::from(rng.gen_range(0..=5u32)) / 10.0)
            .rate_bits_per_sec(rate)
            .build()?;
        Ok(ChaosConfig {
            impairment,
            partition_ms: rng.gen_range(100..=2_000u64),
            echo_rounds: 40,
            partition_bytes: 64 * 1024,
        })
    }
}

/// What one seed of the chaos case measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChaosReport {
    pub echo_max_rtt_ms: f64,
    pub first_byte_after_cut_ms: f64,
    pub one_way: OneWayReport,
}

/// The seed-swept case: an echo exchange over the drawn impairment, a timed
/// partition with a stream across it, and a one-way cut. Fails on any lost,
/// doubled or reordered byte, on a byte that crosses a cut, and on round
/// trips shorter than the impairment allows.
pub async fn chaos_case<B: NetBackend>(
    backend: &mut B,
    config: &ChaosConfig,
) -> Result<ChaosReport, ScenarioError> {
    let impairment = config.impairment;
    let echo_report = echo(backend, impairment, config.echo_rounds, 1024).await?;
    // No fault can make a round trip shorter than two minimum one-way delays.
    let floor_us = 2 * impairment
        .latency_us()
        .saturating_sub(impairment.jitter_us());
    let floor = Duration::from_micros(floor_us);
    if echo_report.min() < floor {
        return Err(ScenarioError::Unexpected(format!(
            "round trip {:?} below the configured floor {floor:?}",
            echo_report.min()
        )));
    }
    let heal_after = Duration::from_millis(config.partition_ms);
    let cut = timed_partition(backend, impairment, heal_after, config.partition_bytes).await?;
    if cut.first_byte_after_cut < heal_after {
        return Err(ScenarioError::Unexpected(format!(
            "a byte crossed the partition at {:?} (heal at {heal_after:?})",
            cut.first_byte_after_cut
        )));
    }
    let one_way = one_way_partition(backend, Duration::from_millis(500)).await?;
    if one_way.forward_bytes_during_cut != 0
        || one_way.reverse_bytes_during_cut == 0
        || one_way.forward_bytes_after_heal != ONE_WAY_PAYLOAD_BYTES
    {
        return Err(ScenarioError::Unexpected(format!(
            "one-way cut misbehaved: {one_way:?}"
        )));
    }
    Ok(ChaosReport {
        echo_max_rtt_ms: echo_report.max().as_secs_f64() * 1e3,
        first_byte_after_cut_ms: cut.first_byte_after_cut.as_secs_f64() * 1e3,
        one_way,
    })
}
