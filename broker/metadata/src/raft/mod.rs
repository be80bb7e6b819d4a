//! The controller quorum: cluster metadata replicated by Raft (openraft).
//!
//! Every change is a [`Command`] in the Raft log; each node applies committed commands to its
//! [`ClusterState`] in log order, so all controllers agree. Controllers talk JSON over HTTP on
//! their controller listener (`--controller-voters ID@HOST:PORT,...`, Kafka's
//! `controller.quorum.voters`), served by the quorum itself on its own runtime so that it runs
//! before, and independently of, the broker.
//!
//! Files in the data dir: `__raft_metadata-0/` (the log, fsynced), `raft-state.json` (vote,
//! committed id), `raft-snapshot.json` (the state at the last snapshot).

// openraft's storage traits fix `StorageError` (large) as the error type; our helpers return it
// too rather than convert back and forth.
#![allow(clippy::result_large_err)]

mod log_store;
mod network;
mod state_machine;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::io::Cursor;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::error::{ClientWriteError, InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{Config, ServerState, SnapshotPolicy};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::{ClusterState, Command, Error, Result};

pub use openraft::BasicNode;
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Raft types of the metadata quorum.
    pub TypeConfig: D = Command, R = Applied, SnapshotData = Cursor<Vec<u8>>
);

pub type Entry = openraft::Entry<TypeConfig>;
type Raft = openraft::Raft<TypeConfig>;

/// What applying one command produced: nothing, or the error that refused it (with its Kafka
/// code, so the proposer answers its client as a local refusal would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub error: Option<(i16, String)>,
}

/// A controller quorum member.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    pub node_id: NodeId,
    /// Every voter's controller address, `host:port`, this node's included.
    pub voters: BTreeMap<NodeId, String>,
    /// Where this node's controller listener binds (default: its address in `voters`).
    pub listen: Option<SocketAddr>,
    /// How long a proposal may wait for a leader and a quorum.
    pub propose_timeout: Duration,
    /// The broker this node runs, whose liveness it reports to the leader (`None`: a dedicated
    /// controller).
    pub broker_id: Option<i32>,
    /// A broker that has not heartbeated for this long is fenced (`broker.session.timeout.ms`).
    pub session_timeout: Duration,
    /// The `Authorization` header value every controller request carries, and that this
    /// node's controller listener requires of every request (`None`: the listener is open).
    /// Every member of a quorum must have the same one.
    pub auth: Option<String>,
}

/// An HTTP client for controller listeners, sending `auth` as the `Authorization` header of
/// every request.
pub(crate) fn agent(auth: Option<&str>) -> ureq::Agent {
    let builder = ureq::AgentBuilder::new().timeout_connect(Duration::from_millis(500));
    match auth {
        Some(a) => {
            let a = a.to_string();
            builder
                .middleware(move |req: ureq::Request, next: ureq::MiddlewareNext<'_>| {
                    next.handle(req.set("Authorization", &a))
                })
                .build()
        }
        None => builder.build(),
    }
}

/// Refuses controller requests without the quorum's `Authorization` header (compared in
/// constant time), when the quorum has one.
async fn require_auth(
    State(auth): State<Arc<Option<String>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(want) = auth.as_deref() {
        let got = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .map_or(&b""[..], |v| v.as_bytes());
        if !bool::from(subtle::ConstantTimeEq::ct_eq(got, want.as_bytes())) {
            tracing::info!(
                path = %req.uri().path(),
                "refused a controller request without the inter-broker credentials"
            );
            return (
                axum::http::StatusCode::UNAUTHORIZED,
                "the controller listener wants the inter-broker user's credentials",
            )
                .into_response();
        }
    }
    next.run(req).await
}

impl QuorumConfig {
    /// Parses Kafka's `controller.quorum.voters` form: `1@host:9093,2@host:9094`.
    pub fn parse_voters(spec: &str) -> Result<BTreeMap<NodeId, String>> {
        let mut out = BTreeMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || Error::Quorum(format!("'{part}' is not ID@HOST:PORT"));
            let (id, addr) = part.split_once('@').ok_or_else(bad)?;
            let id: NodeId = id.trim().parse().map_err(|_| bad())?;
            let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad());
            }
            if out.insert(id, addr.to_string()).is_some() {
                return Err(Error::Quorum(format!("voter {id} is listed twice")));
            }
        }
        if out.is_empty() {
            return Err(Error::Quorum("the voter list is empty".into()));
        }
        Ok(out)
    }
}

/// The status of the quorum as one node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuorumStatus {
    pub node_id: NodeId,
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: BTreeMap<NodeId, String>,
    /// On the leader: the last log index each other member has (`None`: not known yet).
    /// Empty on a follower.
    pub matched: BTreeMap<NodeId, Option<u64>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ProposeReply {
    index: u64,
    applied: Applied,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A running controller quorum member. Dropping it stops Raft.
pub struct Quorum {
    raft: Raft,
    node_id: NodeId,
    voters: BTreeMap<NodeId, String>,
    rt: Option<tokio::runtime::Runtime>,
    agent: ureq::Agent,
    timeout: Duration,
}

impl Quorum {
    /// Starts Raft on `data_dir`, applying into `state`, and serves the controller listener.
    /// A node that has never run initialises the cluster with `voters`.
    pub(crate) fn start(
        config: QuorumConfig,
        data_dir: &Path,
        state: Arc<Mutex<ClusterState>>,
    ) -> Result<Quorum> {
        // A node outside the voter list joins as an observer (a Raft learner): it gets the
        // metadata log but does not vote. Voters must reach it at its controller listener.
        let self_addr = match config.voters.get(&config.node_id) {
            Some(a) => a.clone(),
            None => config.listen.map(|l| l.to_string()).ok_or_else(|| {
                Error::Quorum(format!(
                    "node {} is not in the voter list {:?}: give it --controller-listen HOST:PORT \
                     (reachable by the voters) to join as a non-voting member",
                    config.node_id, config.voters
                ))
            })?,
        };
        let listen: SocketAddr = match config.listen {
            Some(l) => l,
            None => self_addr.parse().map_err(|_| {
                Error::Quorum(format!(
                    "cannot listen on '{self_addr}': give an IP:PORT in the voter list or --controller-listen"
                ))
            })?,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(8)
            .thread_name("weir-raft")
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        match Self::start_on(&handle, config, listen, data_dir, state) {
            Ok(mut q) => {
                q.rt = Some(rt);
                Ok(q)
            }
            Err(e) => {
                // Dropping a runtime inside the caller's async context would panic.
                rt.shutdown_background();
                Err(e)
            }
        }
    }

    fn start_on(
        rt: &tokio::runtime::Handle,
        config: QuorumConfig,
        listen: SocketAddr,
        data_dir: &Path,
        state: Arc<Mutex<ClusterState>>,
    ) -> Result<Quorum> {
        let log = log_store::LogStore::open(data_dir)?;
        let pristine = log.is_pristine();
        let state_for_fencing = state.clone();
        let sm = state_machine::StateMachine::open(data_dir, state)?;
        let raft_config = Config {
            cluster_name: "weir".into(),
            heartbeat_interval: 100,
            election_timeout_min: 500,
            election_timeout_max: 1000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 200,
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::Quorum(e.to_string()))?;
        let node_id = config.node_id;
        let network = network::Network::new(agent(config.auth.as_deref()));
        let raft = run_on(rt, async move {
            Raft::new(node_id, Arc::new(raft_config), network, log, sm).await
        })?
        .map_err(|e| Error::Quorum(e.to_string()))?;

        let listener = run_on(
            rt,
            async move { tokio::net::TcpListener::bind(listen).await },
        )?
        .map_err(|e| Error::Quorum(format!("controller listener {listen}: {e}")))?;
        let liveness = Liveness::default();
        let app = routes(Api {
            raft: raft.clone(),
            liveness: liveness.clone(),
        })
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.auth.clone()),
            require_auth,
        ));
        rt.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "controller listener stopped");
            }
        });

        let members: BTreeMap<NodeId, BasicNode> = config
            .voters
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        let is_voter = config.voters.contains_key(&config.node_id);
        let self_addr = config
            .voters
            .get(&config.node_id)
            .cloned()
            .unwrap_or_else(|| listen.to_string());
        if !is_voter {
            rt.spawn(join_as_learner(
                raft.clone(),
                agent(config.auth.as_deref()),
                config.voters.clone(),
                config.node_id,
                self_addr.clone(),
            ));
        } else if pristine {
            let r = raft.clone();
            // Every voter may initialise with the same membership; Raft elects one leader.
            if let Err(e) = run_on(rt, async move { r.initialize(members).await })? {
                tracing::debug!(error = %e, "raft already initialised");
            }
        } else if config.voters.len() == 1 {
            // A lone voter need not wait for an election timeout after a restart.
            let r = raft.clone();
            let _ = run_on(rt, async move { r.trigger().elect().await })?;
        }
        let agent = agent(config.auth.as_deref());
        if let Some(broker) = config.broker_id {
            rt.spawn(send_heartbeats(
                raft.clone(),
                agent.clone(),
                config.voters.clone(),
                liveness.clone(),
                broker,
                config.session_timeout,
            ));
        }
        rt.spawn(fence_silent_brokers(
            raft.clone(),
            agent.clone(),
            config.voters.clone(),
            liveness,
            state_for_fencing,
            config.session_timeout,
        ));
        tracing::info!(node_id, %listen, voters = ?config.voters, "controller quorum member started");
        Ok(Quorum {
            raft,
            node_id,
            voters: config.voters,
            rt: None,
            agent,
            timeout: config.propose_timeout,
        })
    }

    fn rt(&self) -> &tokio::runtime::Handle {
        // Only `Drop` takes the runtime out.
        self.rt
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .unwrap_or_else(|| unreachable!("runtime taken before drop"))
    }

    /// Commits `cmd` through the leader (forwarding to it when this node is a follower) and
    /// waits until this node has applied it. Blocking; safe to call from any thread, since Raft
    /// runs on its own runtime.
    pub(crate) fn propose(&self, cmd: Command) -> Result<Applied> {
        let raft = self.raft.clone();
        let agent = self.agent.clone();
        let voters = self.voters.clone();
        let timeout = self.timeout;
        run_on(self.rt(), async move {
            tokio::time::timeout(timeout, propose(raft, agent, voters, cmd))
                .await
                .map_err(|_| {
                    Error::Quorum(format!(
                        "no controller quorum within {timeout:?}: is a majority of the voters running?"
                    ))
                })?
        })?
    }

    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        QuorumStatus {
            node_id: self.node_id,
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            voters: self.voters.clone(),
            matched: m
                .replication
                .iter()
                .flatten()
                .map(|(id, log)| (*id, log.map(|l| l.index)))
                .collect(),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Non-voting members (brokers that joined outside the voter list), by id.
    pub fn learners(&self) -> Vec<NodeId> {
        let m = self.raft.metrics().borrow().clone();
        m.membership_config.membership().learner_ids().collect()
    }

    /// Removes a non-voting member from the quorum (through the leader). Voters stay: the
    /// voter list is fixed at the cluster's creation.
    pub fn remove_learner(&self, node_id: NodeId) -> Result<()> {
        if self.voters.contains_key(&node_id) {
            return Err(Error::Quorum(format!(
                "node {node_id} is a controller voter; only brokers that joined as non-voting members can be removed"
            )));
        }
        let raft = self.raft.clone();
        let agent = self.agent.clone();
        let voters = self.voters.clone();
        run_on(self.rt(), async move {
            tokio::time::timeout(
                Duration::from_secs(30),
                remove_learner(raft, agent, voters, node_id),
            )
            .await
            .map_err(|_| Error::Quorum("no controller leader within 30 s".into()))?
        })?
    }
}

/// Asks the voters to add this node as a learner until one (the leader) accepts.
async fn join_as_learner(
    raft: Raft,
    agent: ureq::Agent,
    voters: BTreeMap<NodeId, String>,
    node_id: NodeId,
    addr: String,
) {
    let join = JoinRequest { node_id, addr };
    loop {
        let member = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&node_id)
            .is_some();
        if member {
            tracing::info!(
                node_id,
                "joined the controller quorum as a non-voting member"
            );
            return;
        }
        for voter in voters.values() {
            let r = network::post::<_, (), String>(
                &agent,
                voter,
                "join",
                &join,
                Duration::from_secs(10),
            )
            .await;
            match r {
                Ok(Ok(())) => break,
                Ok(Err(e)) => tracing::debug!(%voter, error = %e, "join refused"),
                Err((_, e)) => tracing::debug!(%voter, error = %e, "join not delivered"),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Removes learner `node_id`, here if this node leads, else through the leader.
async fn remove_learner(
    raft: Raft,
    agent: ureq::Agent,
    voters: BTreeMap<NodeId, String>,
    node_id: NodeId,
) -> Result<()> {
    loop {
        let change = openraft::ChangeMembers::RemoveNodes(BTreeSet::from([node_id]));
        match raft.change_membership(change, false).await {
            Ok(_) => return Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                if let Some(addr) = f.leader_id.and_then(|id| voters.get(&id)) {
                    let r = network::post::<_, (), String>(
                        &agent,
                        addr,
                        "remove",
                        &node_id,
                        Duration::from_secs(10),
                    )
                    .await;
                    match r {
                        Ok(Ok(())) => return Ok(()),
                        Ok(Err(e)) => return Err(Error::Quorum(e)),
                        Err(_) => {}
                    }
                }
            }
            Err(e) => return Err(Error::Quorum(e.to_string())),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct JoinRequest {
    node_id: NodeId,
    addr: String,
}

impl Drop for Quorum {
    fn drop(&mut self) {
        let raft = self.raft.clone();
        if let Some(rt) = self.rt.take() {
            let _ = run_on(rt.handle(), async move { raft.shutdown().await });
            rt.shutdown_background();
        }
    }
}

/// Runs `fut` on the quorum's runtime and waits for it from any thread (async or not).
fn run_on<F>(rt: &tokio::runtime::Handle, fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| Error::Quorum("the controller runtime stopped".into()))
}

async fn propose(
    raft: Raft,
    agent: ureq::Agent,
    voters: BTreeMap<NodeId, String>,
    cmd: Command,
) -> Result<Applied> {
    let mut backoff = Duration::from_millis(20);
    loop {
        match raft.client_write(cmd.clone()).await {
            Ok(resp) => return Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                let addr = f
                    .leader_node
                    .map(|n| n.addr)
                    .or_else(|| f.leader_id.and_then(|id| voters.get(&id).cloned()));
                if let Some(addr) = addr {
                    let reply = network::post::<_, ProposeReply, String>(
                        &agent,
                        &addr,
                        "propose",
                        &cmd,
                        Duration::from_secs(10),
                    )
                    .await;
                    if let Ok(Ok(reply)) = reply {
                        raft.wait(Some(Duration::from_secs(10)))
                            .applied_index_at_least(Some(reply.index), "forwarded proposal")
                            .await
                            .map_err(|e| Error::Quorum(e.to_string()))?;
                        return Ok(reply.applied);
                    }
                }
                // No leader yet, or it just changed: try again shortly.
            }
            Err(e) => return Err(Error::Quorum(e.to_string())),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(500));
    }
}

/// When the leader last heard from each broker (kept by whichever node leads).
#[derive(Clone, Default)]
struct Liveness(Arc<Mutex<HashMap<i32, Instant>>>);

impl Liveness {
    fn seen(&self, broker: i32) {
        self.0.lock().insert(broker, Instant::now());
    }

    fn last_seen(&self, broker: i32) -> Option<Instant> {
        self.0.lock().get(&broker).copied()
    }
}

/// Reports this node's broker as alive to the leader every quarter of the session timeout.
async fn send_heartbeats(
    raft: Raft,
    agent: ureq::Agent,
    voters: BTreeMap<NodeId, String>,
    liveness: Liveness,
    broker: i32,
    session: Duration,
) {
    // At most a second apart, so that a controller leader configured with a shorter session
    // timeout than this node does not fence it.
    let every = (session / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        let m = raft.metrics().borrow().clone();
        if m.state == ServerState::Leader {
            liveness.seen(broker);
        } else if let Some(addr) = m.current_leader.and_then(|l| voters.get(&l)) {
            let sent =
                network::post::<_, (), String>(&agent, addr, "heartbeat", &broker, every).await;
            if let Err((_, e)) = sent {
                tracing::debug!(error = %e, "broker heartbeat not delivered");
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// How often the controller moves leadership back to preferred replicas that are in sync
/// (Kafka's `auto.leader.rebalance.enable`, checked every `leader.imbalance.check.interval`).
const PREFERRED_LEADER_CHECK: Duration = Duration::from_secs(5);

/// On the leader: fences registered brokers silent for longer than the session timeout, and
/// unfences them when they heartbeat again. A new leader gives every broker a full session
/// before judging it.
async fn fence_silent_brokers(
    raft: Raft,
    agent: ureq::Agent,
    voters: BTreeMap<NodeId, String>,
    liveness: Liveness,
    state: Arc<Mutex<ClusterState>>,
    session: Duration,
) {
    const TICK: Duration = Duration::from_millis(200);
    let mut leading_since: Option<Instant> = None;
    let mut last_rebalance = Instant::now();
    let mut last_tick = Instant::now();
    loop {
        tokio::time::sleep(TICK).await;
        if raft.metrics().borrow().state != ServerState::Leader {
            leading_since = None;
            continue;
        }
        // This node itself stopped running for a while (SIGSTOP, a VM pause, swapping): the
        // heartbeats sent meanwhile are still queued, so its view of who is silent is stale.
        // Start every broker's session over rather than fence them all on resuming.
        let stalled = last_tick.elapsed();
        last_tick = Instant::now();
        if stalled > TICK * 5 && leading_since.is_some() {
            tracing::warn!(
                stalled_ms = stalled.as_millis() as u64,
                "the controller was not running for a while; every broker gets a fresh session"
            );
            leading_since = Some(Instant::now());
        }
        let since = *leading_since.get_or_insert_with(Instant::now);
        if last_rebalance.elapsed() >= PREFERRED_LEADER_CHECK {
            last_rebalance = Instant::now();
            let imbalanced = state.lock().preferred_leader_imbalance();
            for (topic, partition) in imbalanced {
                tracing::info!(%topic, partition, "moving leadership back to the preferred replica");
                let cmd = Command::ElectPreferredLeader { topic, partition };
                if let Err(e) = propose(raft.clone(), agent.clone(), voters.clone(), cmd).await {
                    tracing::warn!(error = %e, "preferred leader election failed");
                }
            }
        }
        let brokers: Vec<(i32, bool)> = state
            .lock()
            .brokers
            .values()
            .map(|b| (b.node_id, b.fenced))
            .collect();
        for (id, fenced) in brokers {
            // Heard from since this node leads; before the first heartbeat, the broker gets the
            // benefit of the doubt for one session, but is only unfenced on a real heartbeat.
            let seen = liveness.last_seen(id).filter(|t| *t >= since);
            let should_fence = if fenced {
                seen.is_none_or(|t| t.elapsed() >= session)
            } else {
                seen.unwrap_or(since).elapsed() >= session
            };
            if should_fence == fenced {
                continue;
            }
            let cmd = Command::SetBrokerFenced {
                node_id: id,
                fenced: should_fence,
            };
            tracing::warn!(
                broker = id,
                fenced = should_fence,
                "broker liveness changed"
            );
            let r = propose(raft.clone(), agent.clone(), voters.clone(), cmd).await;
            if let Err(e) = r {
                tracing::warn!(broker = id, error = %e, "could not record broker liveness");
            }
        }
    }
}

#[derive(Clone)]
struct Api {
    raft: Raft,
    liveness: Liveness,
}

fn routes(api: Api) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/propose", post(propose_here))
        .route("/raft/heartbeat", post(heartbeat))
        .route("/raft/join", post(join))
        .route("/raft/remove", post(remove))
        .route("/raft/status", get(status))
        .with_state(api)
}

async fn heartbeat(
    State(api): State<Api>,
    Json(broker): Json<i32>,
) -> Json<std::result::Result<(), String>> {
    api.liveness.seen(broker);
    Json(Ok(()))
}

/// A node outside the voter list asks to join as a learner; only the leader adds it.
async fn join(
    State(Api { raft, .. }): State<Api>,
    Json(req): Json<JoinRequest>,
) -> Json<std::result::Result<(), String>> {
    let known = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .get_node(&req.node_id)
        .is_some();
    if known {
        return Json(Ok(()));
    }
    Json(
        raft.add_learner(req.node_id, BasicNode::new(&req.addr), false)
            .await
            .map(|_| tracing::info!(node_id = req.node_id, addr = %req.addr, "added a non-voting member"))
            .map_err(|e| e.to_string()),
    )
}

/// Removes a learner; only the leader can.
async fn remove(
    State(Api { raft, .. }): State<Api>,
    Json(node_id): Json<NodeId>,
) -> Json<std::result::Result<(), String>> {
    let change = openraft::ChangeMembers::RemoveNodes(BTreeSet::from([node_id]));
    Json(
        raft.change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    )
}

async fn append(
    State(Api { raft, .. }): State<Api>,
    Json(req): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<std::result::Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>> {
    Json(raft.append_entries(req).await)
}

async fn vote(
    State(Api { raft, .. }): State<Api>,
    Json(req): Json<VoteRequest<NodeId>>,
) -> Json<std::result::Result<VoteResponse<NodeId>, RaftError<NodeId>>> {
    Json(raft.vote(req).await)
}

async fn snapshot(
    State(Api { raft, .. }): State<Api>,
    Json(req): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Json<
    std::result::Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
> {
    Json(raft.install_snapshot(req).await)
}

/// A follower's forwarded proposal: committed here if this node leads.
async fn propose_here(
    State(Api { raft, .. }): State<Api>,
    Json(cmd): Json<Command>,
) -> Json<std::result::Result<ProposeReply, String>> {
    Json(match raft.client_write(cmd).await {
        Ok(r) => Ok(ProposeReply {
            index: r.log_id.index,
            applied: r.data,
        }),
        Err(e) => Err(e.to_string()),
    })
}

async fn status(State(Api { raft, .. }): State<Api>) -> Json<serde_json::Value> {
    let m = raft.metrics().borrow().clone();
    let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
    let learners: BTreeSet<NodeId> = m.membership_config.membership().learner_ids().collect();
    Json(serde_json::json!({
        "learners": learners,
        "node_id": m.id,
        "state": format!("{:?}", m.state),
        "leader": m.current_leader,
        "term": m.current_term,
        "last_applied": m.last_applied.map(|l| l.index),
        "voters": voters,
    }))
}
