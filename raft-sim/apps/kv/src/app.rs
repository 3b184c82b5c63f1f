//! The KV example as a twinnet [`App`]: everything raft-sim needs to run,
//! fault and check it, through raft-sim's public API only.

use std::net::{IpAddr, SocketAddr};

use openraft::BasicNode;
use raft_sim::app::{App, NodeStart, StateDigest};
use raft_sim::service::APP_PORT;
use raft_sim::wire::RAFT_PORT;
use raft_sim::workload::{Model, Op, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bugs::Bugs;
use crate::client::KvClient;
use crate::store::Raft;
use crate::types::{KvCommand, TypeConfig};

/// The KV cluster, with the planted bugs it runs with (none by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvApp {
    pub bugs: Bugs,
}

impl KvApp {
    pub fn with_bugs(bugs: Bugs) -> Self {
        KvApp { bugs }
    }
}

impl App for KvApp {
    type C = TypeConfig;
    type Handle = Raft;
    type Client = KvClient;

    fn name(&self) -> &str {
        "kv"
    }

    fn raft_config(&self) -> openraft::Config {
        crate::node::raft_config()
    }

    fn node(&self, _id: u64, ip: IpAddr) -> BasicNode {
        BasicNode {
            addr: SocketAddr::new(ip, RAFT_PORT).to_string(),
        }
    }

    async fn start(self, node: NodeStart<Self>) {
        crate::node::run(self, node).await
    }

    fn client(&self, nodes: &[(u64, IpAddr)]) -> KvClient {
        KvClient::new(
            nodes
                .iter()
                .map(|&(id, ip)| (id, SocketAddr::new(ip, APP_PORT)))
                .collect(),
        )
        .with_bugs(self.bugs)
    }

    fn models(&self) -> Vec<Model> {
        vec![Model::RegisterCas, Model::KvAppend]
    }

    fn register_add(&self) -> bool {
        true
    }

    async fn invoke(&self, client: &mut KvClient, op: &Op) -> Outcome {
        match command(op) {
            Some(Ok(command)) => match client.write(command).await {
                Ok(response) if response.ok => Outcome::Ok(None),
                // A cas whose expected value did not match: its own answer.
                Ok(_) => Outcome::Fail(None),
                Err(err) => Outcome::from_client_error(err),
            },
            Some(Err(why)) => Outcome::Fail(Some(why)),
            None => match client.read(&op.key).await {
                Ok(value) => Outcome::Ok(Some(read_value(op.f, value))),
                Err(err) => Outcome::from_client_error(err),
            },
        }
    }

    async fn liveness_write(&self, client: &mut KvClient, key: String) -> Result<(), String> {
        let put = KvCommand::Put {
            key,
            value: "alive".into(),
        };
        match client.write(put).await {
            Ok(response) if response.ok => Ok(()),
            Ok(response) => Err(format!("write refused: {response:?}")),
            Err(err) => Err(err.to_string()),
        }
    }

    async fn state_digest(&self, node: &Raft) -> Result<StateDigest<TypeConfig>, String> {
        node.with_state_machine(|sm| Box::pin(async move { sm.digest() }))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

/// The write command of `op`; `None` for a read, `Err` for an op the KV
/// store has no command for.
fn command(op: &Op) -> Option<Result<KvCommand, String>> {
    let key = op.key.clone();
    let ints = || op.ints().unwrap_or_default();
    let text = || op.text().unwrap_or_default().to_string();
    Some(Ok(match op.f {
        "read" | "get" => return None,
        "write" => match ints()[..] {
            [n] => KvCommand::Put {
                key,
                value: n.to_string(),
            },
            _ => return Some(Err(format!("write needs an integer, got {}", op.value))),
        },
        "cas" => match ints()[..] {
            [from, to] => KvCommand::Cas {
                key,
                from: Some(from.to_string()),
                to: to.to_string(),
            },
            _ => return Some(Err(format!("cas needs [from, to], got {}", op.value))),
        },
        "add" => match ints()[..] {
            [delta] => KvCommand::Add { key, delta },
            _ => return Some(Err(format!("add needs an integer, got {}", op.value))),
        },
        "put" => KvCommand::Put { key, value: text() },
        "append" => KvCommand::Append { key, value: text() },
        other => return Some(Err(format!("the KV store has no operation {other:?}"))),
    }))
}

/// A read's value in the history's terms: an integer register (null when
/// absent), or a kv string ("" when absent).
fn read_value(f: &str, value: Option<String>) -> Value {
    match (f, value) {
        ("read", None) => Value::Null,
        ("read", Some(s)) => s.parse::<i64>().map_or(Value::String(s), |n| json!(n)),
        (_, value) => json!(value.unwrap_or_default()),
    }
}
