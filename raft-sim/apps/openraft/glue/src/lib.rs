//! openraft's own example application, `raft-kv-memstore`, tested by
//! twinnet the way a user tests their service: its node start-up, its
//! HTTP server (`app-http`) and its `network-v2-http` RaftNetworkV2 run
//! as they are, on madsim-net; the workload uses its HTTP API; the
//! harness sees each node through that API ([`raft_sim::remote`]).
//!
//! This file is all the glue. What else differs from the example is
//! counted in `raft-sim/apps/openraft/README.md`.
use std::net::{IpAddr, SocketAddr};

use madsim_net::rand::Rng;
use openraft::NodeInfo;
use raft_kv_memstore::{TypeConfig, typ};
use raft_sim::app::{App, NodeStart, StateDigest};
use raft_sim::remote::{self, HttpHandle, HttpLeaderClient};
use raft_sim::workload::{Model, Op, Outcome, key_name};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use types_kv::{Request, Response};

/// The ports of the example's two servers.
pub const RAFT_PORT: u16 = 21001;
pub const API_PORT: u16 = 21002;

/// The example app. `local_reads` sends reads to `/read` on a random
/// node, which the example documents as not linearizable: the negative
/// control, which the checker must catch.
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

    fn node(&self, _id: u64, ip: IpAddr) -> NodeInfo {
        let (raft, api) = (
            SocketAddr::new(ip, RAFT_PORT),
            SocketAddr::new(ip, API_PORT),
        );
        NodeInfo::new(raft.to_string(), api.to_string())
    }

    async fn start(self, node: NodeStart<Self>) {
        let (raft, api) = (
            SocketAddr::new(node.ip, RAFT_PORT),
            SocketAddr::new(node.ip, API_PORT),
        );
        let (id, config) = (node.id, (*node.config).clone());
        let example = raft_kv_memstore::start_example_raft_node_with_config(
            id,
            api.to_string(),
            raft.to_string(),
            config,
        );
        remote::run_node(node, api, example).await
    }

    fn client(&self, nodes: &[(u64, IpAddr)]) -> Self::Client {
        HttpLeaderClient::new(
            nodes
                .iter()
                .map(|&(id, ip)| (id, SocketAddr::new(ip, API_PORT)))
                .collect(),
        )
    }

    async fn invoke(&self, client: &mut Self::Client, op: &Op) -> Outcome {
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        let request = match (op.f, &op.value) {
            ("read", _) if self.local_reads => {
                let nodes = client.node_ids();
                let node = nodes[madsim_net::rand::thread_rng().gen_range(0..nodes.len())];
                return match client
                    .call_node::<_, Result<Response, Value>>(node, "/read", &op.key)
                    .await
                {
                    Ok(Ok(read)) => Outcome::Ok(Some(json!(read.value))),
                    Ok(Err(why)) => Outcome::Fail(Some(why.to_string())),
                    Err(why) => Outcome::Fail(Some(why)),
                };
            }
            ("read", _) => {
                return match client
                    .call::<_, Response, typ::LinearizableReadError>(
                        "/linearizable_read",
                        &op.key,
                        false,
                    )
                    .await
                {
                    Ok(Ok(read)) => Outcome::Ok(Some(json!(read.value))),
                    Ok(Err(why)) => Outcome::Fail(Some(why.to_string())),
                    Err(err) => Outcome::from_client_error(err),
                };
            }
            ("cas", Value::Array(args)) if args.len() == 2 && args[0].is_u64() => {
                Request::compare_and_set(
                    &op.key,
                    args[0].as_u64().unwrap_or_default(),
                    text(&args[1]),
                )
            }
            ("write", value) => Request::set(&op.key, text(value)),
            _ => return Outcome::Fail(Some(format!("unsupported op {} {}", op.f, op.value))),
        };
        match client
            .call::<_, typ::ClientWriteResponse, typ::ClientWriteError>("/write", &request, true)
            .await
        {
            Ok(Ok(written)) => match written.data.value {
                Some(value) => Outcome::Ok(Some(json!(value.version))),
                None => Outcome::Fail(None), // a cas whose version did not match
            },
            Ok(Err(why)) => Outcome::Fail(Some(why.to_string())),
            Err(err) => Outcome::from_client_error(err),
        }
    }

    fn models(&self) -> Vec<Model> {
        vec![Model::VersionedCas]
    }

    /// The workload's keys as `/read` shows them on this node, until 16
    /// absent keys in a row, with the applied log id before and after.
    async fn state_digest(&self, node: &Self::Handle) -> Result<StateDigest<TypeConfig>, String> {
        for _round in 0..8 {
            let before = node.fresh_metrics().await?.last_applied;
            let (mut values, mut absent) = (Vec::new(), 0);
            while absent < 16 && values.len() < raft_sim::workload::MAX_KEYS {
                let read: Result<Response, Value> =
                    node.post("/read", &key_name(values.len())).await?;
                let value = read.map_err(|e| e.to_string())?.value;
                absent = if value.is_some() { 0 } else { absent + 1 };
                values.push(value);
            }
            let applied = node.fresh_metrics().await?.last_applied;
            if applied == before {
                let digest = serde_json::to_vec(&values).map_err(|e| e.to_string())?;
                return Ok(StateDigest { applied, digest });
            }
        }
        Err("the node kept applying while its state was read".into())
    }
}
