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
    /// No node accepted the operation within the attempts (connections
    /// failed or nodes redirected): a write did not take effect.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
    /// A write may or may not have taken effect: it reached node `node`,
    /// then the answer was lost or was an error.
    #[error("outcome unknown after reaching node {node}: {why}")]
    Indeterminate { node: NodeId, why: String },
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

    /// Tries nodes until one answers. A write is retried only while it is
    /// certain it was not applied (no connection, or a leader redirect);
    /// after it may have reached a leader, a failure is `Indeterminate`:
    /// retrying then could apply it twice.
    async fn call(&mut self, request: ClientRequest) -> Result<ClientResponse, ClientError> {
        let is_write = matches!(request, ClientRequest::Write(_));
        let mut backoff = Duration::from_millis(20);
        let mut last = String::from("no node");
        for attempt in 0..MAX_ATTEMPTS {
            let Some((node, addr)) = self.target(attempt) else {
                break;
            };
            match self.attempt(node, addr, &request).await {
                Ok(ClientResponse::NotLeader { leader }) => {
                    last = format!("node {node} is not the leader");
                    self.leader_hint = leader.filter(|l| *l != node);
                    if self.leader_hint.is_some() {
                        continue; // a redirect: no need to wait
                    }
                }
                Ok(ClientResponse::Failed(why)) if is_write => {
                    return Err(ClientError::Indeterminate { node, why });
                }
                Ok(ClientResponse::Failed(why)) => last = format!("node {node}: {why}"),
                Ok(done) => {
                    self.leader_hint = Some(node);
                    return Ok(done);
                }
                Err(Attempt::NotSent(why)) => last = format!("node {node}: {why}"),
                Err(Attempt::Ambiguous(why)) if is_write => {
                    return Err(ClientError::Indeterminate { node, why });
                }
                Err(Attempt::Ambiguous(why)) => last = format!("node {node}: {why}"),
            }
            self.leader_hint = None;
            time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
        Err(ClientError::GaveUp {
            attempts: MAX_ATTEMPTS,
            last,
        })
    }

    /// One request to `node`, on the kept connection or a new one.
    async fn attempt(
        &mut self,
        node: NodeId,
        addr: SocketAddr,
        request: &ClientRequest,
    ) -> Result<ClientResponse, Attempt> {
        let kept = self
            .connection
            .take()
            .filter(|(id, _)| *id == node)
            .map(|(_, s)| s);
        let stream = match kept {
            Some(stream) => stream,
            None => match time::timeout(ATTEMPT_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return Err(Attempt::NotSent(err.to_string())),
                Err(_) => return Err(Attempt::NotSent("connect timed out".into())),
            },
        };
        match time::timeout(ATTEMPT_TIMEOUT, exchange(stream, request)).await {
            Ok(Ok((response, stream))) => {
                self.connection = Some((node, stream));
                Ok(response)
            }
            Ok(Err(why)) => Err(Attempt::Ambiguous(why)),
            Err(_) => Err(Attempt::Ambiguous("timed out".into())),
        }
    }
}

/// How one attempt failed.
enum Attempt {
    /// The request never left: retrying is safe.
    NotSent(String),
    /// The request may have been received and acted on.
    Ambiguous(String),
}

/// One request/response on `stream`; the stream comes back for reuse only
/// after a well-formed answer.
async fn exchange(
    mut stream: TcpStream,
    request: &ClientRequest,
) -> Result<(ClientResponse, TcpStream), String> {
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
