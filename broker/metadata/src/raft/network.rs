//! Raft RPCs between controllers: JSON over HTTP (`POST /raft/{append,vote,snapshot,propose}`
//! on each node's HTTP listener). The server side is [`super::Quorum::handle`]; this is the
//! client, run on the blocking pool because `ureq` is synchronous.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BasicNode, NodeId, TypeConfig};

#[derive(Clone)]
pub(crate) struct Network {
    agent: ureq::Agent,
}

impl Network {
    pub(crate) fn new(agent: ureq::Agent) -> Self {
        Network { agent }
    }
}

pub(crate) struct Peer {
    agent: ureq::Agent,
    target: NodeId,
    addr: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transport(String);

/// Posts `req` to `addr/raft/<path>` and decodes the peer's `Result<Resp, E>`.
pub(crate) async fn post<Req, Resp, E>(
    agent: &ureq::Agent,
    addr: &str,
    path: &str,
    req: &Req,
    timeout: Duration,
) -> Result<Result<Resp, E>, (bool, String)>
where
    Req: Serialize,
    Resp: DeserializeOwned + Send + 'static,
    E: DeserializeOwned + Send + 'static,
{
    let body = serde_json::to_vec(req).map_err(|e| (false, e.to_string()))?;
    let url = format!("http://{addr}/raft/{path}");
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || {
        let resp = agent
            .post(&url)
            .timeout(timeout)
            .set("content-type", "application/json")
            .send_bytes(&body);
        match resp {
            Ok(r) => {
                let text = r.into_string().map_err(|e| (false, e.to_string()))?;
                serde_json::from_str(&text)
                    .map_err(|e| (false, format!("bad answer from {url}: {e}")))
            }
            Err(ureq::Error::Status(code, r)) => Err((
                false,
                format!(
                    "{url}: HTTP {code}: {}",
                    r.into_string().unwrap_or_default()
                ),
            )),
            // Could not connect or the connection broke: the peer is down.
            Err(e) => Err((true, format!("{url}: {e}"))),
        }
    })
    .await
    .map_err(|e| (false, e.to_string()))?
}

impl Peer {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned + Send + 'static,
        E: std::error::Error + DeserializeOwned + Send + 'static,
    {
        match post::<Req, Resp, RaftError<NodeId, E>>(
            &self.agent,
            &self.addr,
            path,
            req,
            option.hard_ttl(),
        )
        .await
        {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Err((true, msg)) => Err(RPCError::Unreachable(Unreachable::new(&Transport(msg)))),
            Err((false, msg)) => Err(RPCError::Network(NetworkError::new(&Transport(msg)))),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Peer {
        Peer {
            agent: self.agent.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("vote", &rpc, &option).await
    }
}
