//! openraft's own example application, `raft-kv-memstore`, tested by
//! twinnet the way a user tests their service: its node start-up, its
//! HTTP server (`app-http`) and its `network-v2-http` RaftNetworkV2 run
//! as they are, on madsim-net; the workload uses its HTTP API; the
//! harness sees each node through that API ([`raft_sim::remote`]).
//!
//! This file is all the glue. What else differs from the example is
//! counted in `raft-sim/apps/openraft/README.md`.
use std::net::{IpAddr, SocketAddr};

use raft_kv_memstore::TypeConfig;
use raft_sim::app::{App, NodeStart, StateDigest};
use raft_sim::remote::{self, HttpHandle, HttpLeaderClient};
use raft_sim::workload::{Model, Op, Outcome, VersionedOp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use types_kv::{Request, Response, VersionedValue};

/// The ports of the example's Raft and API servers.
pub const RAFT_PORT: u16 = 21001;
pub const API_PORT: u16 = 21002;

/// The example app. `local_reads` sends reads to `/read` on a random node,
/// which the example documents as not linearizable: the negative control.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMemstore {
    pub local_reads: bool,
}

impl App for KvMemstore {
    type C = TypeConfig;
    type Handle = HttpHandle<TypeConfig>;
    type Client = HttpLeaderClient<TypeConfig>;

    fn name(&self) -> &str {
        "openraft-kv-memstore"
    }

    fn raft_config(&self) -> openraft::Config {
        raft_kv_memstore::example_config()
    }

    fn node(&self, _id: u64, ip: IpAddr) -> openraft::NodeInfo {
        let [raft, api] = [RAFT_PORT, API_PORT].map(|port| SocketAddr::new(ip, port).to_string());
        openraft::NodeInfo::new(raft, api)
    }

    async fn start(self, node: NodeStart<Self>) {
        let (info, api) = (
            self.node(node.id, node.ip),
            SocketAddr::new(node.ip, API_PORT),
        );
        let start = raft_kv_memstore::start_example_raft_node_with_config;
        let config = (*node.config).clone();
        let example = start(node.id, info.data, info.raft_addr, config);
        remote::run_node(node, api, example).await
    }

    fn client(&self, nodes: &[(u64, IpAddr)]) -> Self::Client {
        HttpLeaderClient::on_port(nodes, API_PORT)
    }

    async fn invoke(&self, client: &mut Self::Client, op: &Op) -> Outcome {
        let request = match VersionedOp::decode(op) {
            Err(refused) => return refused,
            Ok(VersionedOp::Read) if self.local_reads => {
                let node = client.random_node();
                return Outcome::of_call(client.read_from(node, "/read", &op.key).await, read);
            }
            Ok(VersionedOp::Read) => {
                return Outcome::of_call(client.read("/linearizable_read", &op.key).await, read);
            }
            Ok(VersionedOp::Write(value)) => Request::set(&op.key, value),
            Ok(VersionedOp::Cas { expected, value }) => {
                Request::compare_and_set(&op.key, expected, value)
            }
        };
        Outcome::of_call(client.write("/write", &request).await, written)
    }

    fn models(&self) -> Vec<Model> {
        vec![Model::VersionedCas]
    }

    fn client_attempt_timeout(&self) -> std::time::Duration {
        remote::EXCHANGE_TIMEOUT
    }

    async fn state_digest(&self, node: &Self::Handle) -> Result<StateDigest<TypeConfig>, String> {
        remote::digest_by_reads(node, "/read").await
    }
}

fn read(answer: Response) -> Outcome {
    Outcome::Ok(Some(json!(answer.value)))
}

/// A cas whose version did not match answers no value.
fn written(answer: Response) -> Outcome {
    let version = |value: VersionedValue| Outcome::Ok(Some(json!(value.version)));
    answer.value.map_or(Outcome::Fail(None), version)
}
