//! A KV client: finds the leader (following redirects), retries with
//! backoff within a bound, and says when an outcome is unknown.

use std::net::SocketAddr;
use std::time::Duration;

use madsim_net::frame;
use madsim_net::net::TcpStream;
use madsim_net::time;

use crate::types::{KvCommand, KvResponse, NodeId};
use crate::wire::{ClientRequest, ClientResponse, Request, Response};

/// Attempts per operation before giving up.
pub const MAX_ATTEMPTS: u32 = 40;
/// Deadline of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No leader answered within the attempts; a write may or may not have
    /// taken effect (Jepsen's `info`).
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

/// A client that knows every node's address. It keeps its connection to
/// the node that last answered, as a real client's pool would.
#[derive(Debug)]
pub struct KvClient {
    nodes: Vec<(NodeId, SocketAddr)>,
    leader_hint: Option<NodeId>,
    connection: Option<(NodeId, TcpStream)>,
}

impl Clone for KvClient {
    /// A clone shares the address book, not the connection.
    fn clone(&self) -> Self {
        KvClient {
            nodes: self.nodes.clone(),
            leader_hint: self.leader_hint,
            connection: None,
        }
    }
}

impl KvClient {
    pub fn new(nodes: Vec<(NodeId, SocketAddr)>) -> Self {
        KvClient {
            nodes,
            leader_hint: None,
            connection: None,
        }
    }

    pub async fn write(&mut self, command: KvCommand) -> Result<KvResponse, ClientError> {
        match self.call(ClientRequest::Write(command)).await? {
            ClientResponse::Written(response) => Ok(response),
            other => Err(ClientError::GaveUp {
                attempts: 0,
                last: format!("unexpected {other:?}"),
            }),
        }
    }

    pub async fn read(&mut self, key: &str) -> Result<Option<String>, ClientError> {
        match self
            .call(ClientRequest::Read {
                key: key.to_string(),
            })
            .await?
        {
            ClientResponse::Value(value) => Ok(value),
            other => Err(ClientError::GaveUp {
                attempts: 0,
                last: format!("unexpected {other:?}"),
            }),
        }
    }

    fn target(&self, attempt: u32) -> Option<(NodeId, SocketAddr)> {
        let by_hint = self
            .leader_hint
            .and_then(|id| self.nodes.iter().find(|(n, _)| *n == id).copied());
        by_hint.or_else(|| {
            self.nodes
                .get(attempt as usize % self.nodes.len().max(1))
                .copied()
        })
    }

    async fn call(&mut self, request: ClientRequest) -> Result<ClientResponse, ClientError> {
        let mut backoff = Duration::from_millis(20);
        let mut last = String::from("no node");
        for attempt in 0..MAX_ATTEMPTS {
            let Some((node, addr)) = self.target(attempt) else {
                break;
            };
            let reused = self
                .connection
                .take()
                .filter(|(id, _)| *id == node)
                .map(|(_, stream)| stream);
            let outcome = time::timeout(ATTEMPT_TIMEOUT, exchange(reused, addr, &request)).await;
            let outcome = outcome.map(|result| {
                result.map(|(response, stream)| {
                    self.connection = Some((node, stream));
                    response
                })
            });
            match outcome {
                Ok(Ok(ClientResponse::NotLeader { leader })) => {
                    last = format!("node {node} is not the leader");
                    self.leader_hint = leader.filter(|l| *l != node);
                    if self.leader_hint.is_some() {
                        continue; // a redirect: no need to wait
                    }
                }
                Ok(Ok(ClientResponse::Failed(why))) => {
                    last = format!("node {node}: {why}");
                    self.leader_hint = None;
                }
                Ok(Ok(done)) => {
                    self.leader_hint = Some(node);
                    return Ok(done);
                }
                Ok(Err(why)) => {
                    last = format!("node {node}: {why}");
                    self.leader_hint = None;
                }
                Err(_) => {
                    last = format!("node {node}: timed out");
                    self.leader_hint = None;
                }
            }
            time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        Err(ClientError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }
}

/// One request on `stream` (or a new connection); the stream comes back
/// for reuse only after a well-formed answer.
async fn exchange(
    stream: Option<TcpStream>,
    addr: SocketAddr,
    request: &ClientRequest,
) -> Result<(ClientResponse, TcpStream), String> {
    let mut stream = match stream {
        Some(stream) => stream,
        None => TcpStream::connect(addr).await.map_err(|e| e.to_string())?,
    };
    frame::write_frame(&mut stream, &Request::Client(request.clone()))
        .await
        .map_err(|e| e.to_string())?;
    match frame::read_frame::<_, Response>(&mut stream)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(Response::Client(response)) => Ok((response, stream)),
        Some(other) => Err(format!("unexpected response {other:?}")),
        None => Err("connection closed".into()),
    }
}
