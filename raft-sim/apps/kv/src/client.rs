//! A KV client: raft-sim's [`LeaderClient`] (leader redirects, bounded
//! retries, a kept connection, writes never retried once they may have
//! reached a leader) speaking the KV app's requests.

use std::net::SocketAddr;

use raft_sim::service::{ClientError, LeaderClient};

use crate::bugs::Bugs;
use crate::server::{KvAnswer, KvRequest};
use crate::types::{KvCommand, KvResponse};

/// A client of the KV cluster. A clone shares the address book, not the
/// connection.
#[derive(Debug, Clone)]
pub struct KvClient {
    inner: LeaderClient<KvRequest, KvAnswer>,
    /// The planted `retry-ambiguous` bug.
    retry_ambiguous: bool,
}

impl KvClient {
    /// A client of the nodes at `nodes` (node id, app address).
    pub fn new(nodes: Vec<(u64, SocketAddr)>) -> Self {
        KvClient {
            inner: LeaderClient::new(nodes),
            retry_ambiguous: false,
        }
    }

    /// This client with the planted bugs that live in a client.
    pub fn with_bugs(mut self, bugs: Bugs) -> Self {
        self.retry_ambiguous = bugs.retry_ambiguous;
        if bugs.response_mixup {
            self.inner = self.inner.keeping_timed_out_connections();
        }
        self
    }

    pub async fn write(&mut self, command: KvCommand) -> Result<KvResponse, ClientError> {
        let request = KvRequest::Write(command);
        let mut answer = self.inner.call(&request, true).await;
        if self.retry_ambiguous && matches!(answer, Err(ClientError::Indeterminate { .. })) {
            // Planted bug: the first send may have committed; this one
            // applies it again.
            answer = self.inner.call(&request, true).await;
        }
        match answer? {
            KvAnswer::Written(response) => Ok(response),
            other => Err(unexpected(other)),
        }
    }

    pub async fn read(&mut self, key: &str) -> Result<Option<String>, ClientError> {
        let request = KvRequest::Read {
            key: key.to_string(),
        };
        match self.inner.call(&request, false).await? {
            KvAnswer::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(answer: KvAnswer) -> ClientError {
    ClientError::GaveUp {
        attempts: 0,
        last: format!("unexpected {answer:?}"),
    }
}
