//! The classic consumer-group coordinator (JoinGroup / SyncGroup / Heartbeat / LeaveGroup) and
//! committed offsets. Every group lives on this broker (a single node coordinates all groups;
//! the cluster issue spreads them by partition of `__consumer_offsets`).
//!
//! Rebalance: a join moves the group to PreparingRebalance; it completes when every member has
//! rejoined, or at the deadline (the longest rebalance timeout, or the initial delay for an
//! empty group), dropping members that did not rejoin. The leader receives the members and their
//! metadata, computes the assignment client-side (range, roundrobin, sticky, cooperative-sticky:
//! all opaque to the broker) and sends it with SyncGroup, which completes the generation.

mod consumer;
mod offsets;
mod stored;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use weir_protocol::kafka::ResponseError;

pub(crate) use consumer::{
    HEARTBEAT_INTERVAL_MS, Heartbeat as ConsumerHeartbeat, HeartbeatOutcome, Parts, TopicCatalog,
};
pub(crate) use offsets::{Committed, Durable, OffsetMap, OffsetStore, TxnEntries};
use stored::StoredGroup;

use crate::kvlog::KvLog;
use crate::partition::PartitionRef;
use offsets::Leading;

/// A lone node's journal of group membership (see `stored.rs`); a cluster keeps it in the
/// replicated coordinator partition.
pub(crate) const MEMBERSHIP_LOG: &str = "__group_metadata";

use crate::Result;

/// Kafka's `group.min.session.timeout.ms` and `group.max.session.timeout.ms`.
/// How long an empty group without committed offsets stays listed (ListGroups, DescribeGroups
/// state Empty), unless `offsets.retention` is shorter. Kafka drops such a group at its next
/// offsets sweep, `offsets.retention.check.interval.ms` (10 minutes) at the latest.
const EMPTY_GROUP_RETENTION_MS: i64 = 600_000;
const MIN_SESSION_TIMEOUT: Duration = Duration::from_secs(6);
const MAX_SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Kafka's `offset.metadata.max.bytes`.
const MAX_METADATA_BYTES: usize = 4096;

fn code(e: ResponseError) -> i16 {
    e.code()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    /// A consumer-protocol group (KIP-848) whose newest target assignment is not computed yet.
    Assigning,
    /// A consumer-protocol group whose members have not all reached their target assignment.
    Reconciling,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Assigning => "Assigning",
            GroupState::Reconciling => "Reconciling",
        }
    }
}

/// What a JoinGroup request gets back.
#[derive(Debug, Clone, Default)]
pub(crate) struct JoinOutcome {
    pub(crate) error: i16,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    /// Filled for the leader only: `(member id, group instance id, metadata)`.
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
    /// A static leader rejoining a stable group gets the members but must not reassign (KIP-814).
    pub(crate) skip_assignment: bool,
}

impl JoinOutcome {
    fn error(error: i16, member_id: &str) -> JoinOutcome {
        JoinOutcome {
            error,
            generation: -1,
            member_id: member_id.to_string(),
            ..JoinOutcome::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SyncOutcome {
    pub(crate) error: i16,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Bytes,
}

impl SyncOutcome {
    fn error(error: i16) -> SyncOutcome {
        SyncOutcome {
            error,
            ..SyncOutcome::default()
        }
    }
}

/// A JoinGroup or SyncGroup answer now, or one that comes when the rebalance moves on.
pub(crate) enum Pending<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>, Duration),
}

pub(crate) struct JoinRequest {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ asks new members to come back with an assigned id (KIP-394).
    pub(crate) require_known_member_id: bool,
}

struct Member {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    joined_at: u64,
    join_tx: Option<oneshot::Sender<JoinOutcome>>,
    sync_tx: Option<oneshot::Sender<SyncOutcome>>,
}

impl Member {
    /// The member's metadata for `protocol` (empty if it does not support it).
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }
}

struct Group {
    /// The group id, for the log.
    id: String,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending: HashSet<String>,
    rebalance_deadline: Option<Instant>,
    /// The first rebalance of an empty group waits out the initial delay (extended by each new
    /// joiner, up to the rebalance timeout) instead of completing as soon as all have joined.
    initial_join_until: Option<Instant>,
    /// Wall-clock time the group last became empty (or was loaded), for offset expiry.
    empty_since_ms: i64,
    offsets: BTreeMap<(String, i32), Committed>,
    /// The membership record last written ([`Group::settled_signature`] and the record), so
    /// that it is written once per settled state and copied when the journal compacts.
    saved: Option<(u64, StoredGroup)>,
    /// Members of the consumer protocol (KIP-848). A group has members of one protocol only.
    consumer: consumer::ConsumerGroup,
}

impl Group {
    fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: HashSet::new(),
            rebalance_deadline: None,
            initial_join_until: None,
            empty_since_ms: crate::broker::now_ms(),
            offsets: BTreeMap::new(),
            saved: None,
            consumer: consumer::ConsumerGroup::default(),
        }
    }

    /// Whether `member_id` speaks for static instance `instance` that another member id now
    /// holds (KIP-345: a newer process with the same `group.instance.id` took its place): such
    /// a request gets FENCED_INSTANCE_ID, so that the old process stops.
    fn instance_fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|i| self.member_by_instance(i))
            .is_some_and(|current| current != member_id)
    }

    /// Whether the group is (or was last) a KIP-848 consumer group: it has consumer-protocol
    /// members, or had them and no classic member joined since (ListGroups type `consumer`).
    fn is_consumer_group(&self) -> bool {
        !self.consumer.is_empty() || (self.consumer.epoch() > 0 && self.members.is_empty())
    }

    /// Checks the member that commits offsets (OffsetCommit, TxnOffsetCommit): in a
    /// consumer-protocol group its epoch, in a classic group its instance, id and generation.
    fn check_committer(
        &self,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if !self.consumer.is_empty() {
            // The generation is the member's epoch.
            return self.consumer.check_commit(member_id, generation);
        }
        if self.instance_fenced(instance_id, member_id) {
            Err(ResponseError::FencedInstanceId)
        } else if !self.members.contains_key(member_id) {
            Err(ResponseError::UnknownMemberId)
        } else if generation != self.generation {
            Err(ResponseError::IllegalGeneration)
        } else {
            Ok(())
        }
    }

    fn member_by_instance(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
            .map(|(id, _)| id.clone())
    }

    fn max_rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::from_secs(60))
    }

    /// Starts (or keeps) a rebalance; members waiting for SyncGroup are told to rejoin.
    fn prepare_rebalance(&mut self, initial_delay: Duration, reason: &str) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        tracing::info!(
            group = %self.id,
            generation = self.generation,
            members = self.members.len(),
            reason,
            "group rebalancing"
        );
        for m in self.members.values_mut() {
            if let Some(tx) = m.sync_tx.take() {
                let _ = tx.send(SyncOutcome::error(code(ResponseError::RebalanceInProgress)));
            }
        }
        let now = Instant::now();
        if self.state == GroupState::Empty && !initial_delay.is_zero() {
            self.initial_join_until = Some(now + self.max_rebalance_timeout());
            self.rebalance_deadline = Some(now + initial_delay);
        } else {
            self.initial_join_until = None;
            self.rebalance_deadline = Some(now + self.max_rebalance_timeout());
        }
        self.state = GroupState::PreparingRebalance;
    }

    /// `(member id, instance id, metadata for the selected protocol)` of every member.
    fn roster(&self) -> Vec<(String, Option<String>, Bytes)> {
        let protocol = self.protocol.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|(id, m)| {
                let meta = m.metadata_for(&protocol);
                (id.clone(), m.instance_id.clone(), meta)
            })
            .collect()
    }

    /// Topics the members subscribe to, read from their consumer-protocol metadata (empty for
    /// other protocol types, whose metadata Weir does not interpret).
    fn subscribed_topics(&self) -> HashSet<String> {
        use weir_protocol::kafka::messages::ConsumerProtocolSubscription;
        use weir_protocol::kafka::protocol::Decodable;
        let mut topics = HashSet::new();
        if self.protocol_type.as_deref() != Some("consumer") {
            return topics;
        }
        for (_, _, meta) in self.roster() {
            if meta.len() < 2 {
                continue;
            }
            let version = i16::from_be_bytes([meta[0], meta[1]]).clamp(0, 3);
            let mut body = meta.slice(2..);
            if let Ok(sub) = ConsumerProtocolSubscription::decode(&mut body, version) {
                topics.extend(sub.topics.iter().map(|t| t.to_string()));
            }
        }
        topics
    }

    fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.join_tx.is_some())
    }

    /// Ends the join phase: drops members that did not rejoin, picks the protocol and leader,
    /// bumps the generation and answers every waiting JoinGroup.
    fn complete_join(&mut self) {
        self.members.retain(|_, m| m.join_tx.is_some());
        self.rebalance_deadline = None;
        self.initial_join_until = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.empty_since_ms = crate::broker::now_ms();
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.select_protocol();
        let first = self
            .members
            .iter()
            .min_by_key(|(_, m)| m.joined_at)
            .map(|(id, _)| id.clone());
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = first;
        }
        self.state = GroupState::CompletingRebalance;
        let roster = self.roster();
        let leader = self.leader.clone().unwrap_or_default();
        for (id, m) in self.members.iter_mut() {
            m.assignment = Bytes::new();
            m.last_seen = Instant::now();
            if let Some(tx) = m.join_tx.take() {
                let _ = tx.send(JoinOutcome {
                    error: 0,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol.clone(),
                    leader: leader.clone(),
                    member_id: id.clone(),
                    members: if *id == leader {
                        roster.clone()
                    } else {
                        Vec::new()
                    },
                    skip_assignment: false,
                });
            }
        }
    }

    /// The protocol every member supports with the most first-choice votes.
    fn select_protocol(&self) -> Option<String> {
        let mut candidates: Option<Vec<String>> = None;
        for m in self.members.values() {
            let names: Vec<String> = m.protocols.iter().map(|(n, _)| n.clone()).collect();
            candidates = Some(match candidates {
                None => names,
                Some(c) => c.into_iter().filter(|n| names.contains(n)).collect(),
            });
        }
        let candidates = candidates?;
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|n| {
                (
                    votes.get(n.as_str()).copied().unwrap_or(0),
                    std::cmp::Reverse(candidates.iter().position(|c| c == *n)),
                )
            })
            .cloned()
    }

    fn remove_member(&mut self, id: &str, initial_delay: Duration) {
        if let Some(mut m) = self.members.remove(id) {
            if let Some(tx) = m.join_tx.take() {
                let _ = tx.send(JoinOutcome::error(code(ResponseError::UnknownMemberId), id));
            }
            if let Some(tx) = m.sync_tx.take() {
                let _ = tx.send(SyncOutcome::error(code(ResponseError::UnknownMemberId)));
            }
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
        match self.state {
            GroupState::Empty => {}
            _ if self.members.is_empty() => {
                self.generation += 1;
                self.state = GroupState::Empty;
                self.empty_since_ms = crate::broker::now_ms();
                self.protocol = None;
                self.rebalance_deadline = None;
            }
            GroupState::PreparingRebalance => {
                if self.all_joined() && self.initial_join_until.is_none() {
                    self.complete_join();
                }
            }
            _ => {
                self.prepare_rebalance(initial_delay, &format!("member {id} left or expired"));
            }
        }
    }
}

/// A consumer group as DescribeGroups and the HTTP API show it.
pub struct GroupView {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    pub generation: i32,
    /// `(member id, instance id, client id, client host, metadata, assignment)`.
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
    pub offsets: Vec<((String, i32), i64)>,
}

pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Group>>,
    store: OffsetStore,
    /// A lone node's membership journal; `None` in a cluster, where membership goes to the
    /// replicated coordinator partition with the offsets.
    membership: Option<KvLog>,
    initial_delay: Duration,
    /// `offsets.retention.minutes`: committed offsets of a group without members expire this
    /// long after their commit.
    offsets_retention: Duration,
    join_counter: std::sync::atomic::AtomicU64,
}

/// Per-partition error codes of an offset commit or delete.
pub(crate) type CommitResult = Vec<((String, i32), i16)>;

/// The code for `topic`/`partition` in a per-partition outcome: the request-level error when
/// the whole request failed, else that partition's code (0 when it is not listed).
pub(crate) fn partition_code(
    outcome: &Result<CommitResult, i16>,
    topic: &str,
    partition: i32,
) -> i16 {
    match outcome {
        Err(code) => *code,
        Ok(list) => list
            .iter()
            .find(|((t, p), _)| t == topic && *p == partition)
            .map_or(0, |(_, c)| *c),
    }
}

impl GroupCoordinator {
    pub(crate) fn open(
        data_dir: &Path,
        clean: bool,
        initial_delay: Duration,
        offsets_retention: Duration,
        replicated: bool,
    ) -> Result<GroupCoordinator> {
        let (store, map) = OffsetStore::open(data_dir, clean, replicated)?;
        let (membership, stored) = if replicated {
            (None, Vec::new())
        } else {
            let (log, entries) =
                KvLog::open::<String, StoredGroup>(data_dir, MEMBERSHIP_LOG, clean)?;
            (Some(log), entries)
        };
        let groups = assemble(map, stored);
        Ok(GroupCoordinator {
            groups: Mutex::new(groups),
            store,
            membership,
            initial_delay,
            offsets_retention,
            join_counter: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Whether this broker coordinates groups now (in a cluster: it leads the offsets
    /// partition). Other brokers answer NOT_COORDINATOR, and clients look the coordinator up.
    pub(crate) fn is_coordinator(&self) -> bool {
        self.store.is_coordinator()
    }

    /// Follows the leadership of the replicated offsets partition: its new leader loads every
    /// committed offset from it and coordinates; a broker that lost it forgets its groups
    /// (their members rejoin at the new coordinator). The partition also holds transaction
    /// state, which the caller hands to the transaction coordinator: it installs it in
    /// `install` before this broker starts answering as coordinator.
    pub(crate) fn sync_role(
        &self,
        partition: &PartitionRef,
        me: i32,
        install: impl FnOnce(Option<TxnEntries>),
    ) {
        if partition.is_leader(me) {
            let epoch = partition.leader_epoch();
            if self.store.leading_epoch() == Some(epoch) {
                return;
            }
            // Stop answering under the old epoch while the log loads.
            self.store.resign();
            match self.store.load(partition) {
                Ok(loaded) => {
                    let mut groups = self.groups.lock();
                    *groups = assemble(loaded.offsets, loaded.groups);
                    let n = groups.len();
                    drop(groups);
                    install(Some(loaded.txns));
                    self.store
                        .activate(Leading::new(partition.clone(), me, epoch, loaded.entries));
                    tracing::info!(
                        groups = n,
                        epoch,
                        "group and transaction coordinator: loaded committed offsets and transactions"
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, "group coordinator: could not load committed offsets");
                }
            }
        } else if self.store.leading_epoch().is_some() {
            self.store.resign();
            self.groups.lock().clear();
            install(None);
            tracing::info!("group and transaction coordinator moved to another broker");
        }
    }

    /// In a cluster: appends transaction state to the replicated coordinator partition.
    pub(crate) fn append_txn(
        &self,
        id: &str,
        meta: Option<&crate::txn::TxnMeta>,
    ) -> Result<Durable> {
        self.store.append_txn(id, meta)
    }

    /// The coordinator epoch (the leader epoch of the offsets partition loaded), while
    /// coordinating in a cluster.
    pub(crate) fn coordinator_epoch(&self) -> Option<i32> {
        self.store.leading_epoch()
    }

    /// Writes `g`'s membership when it settled in a state not written yet (see `stored.rs`).
    /// A failed write is logged: the members then rejoin after a restart, as before.
    fn save(&self, g: &mut Group) {
        let Some(sig) = g.settled_signature() else {
            return;
        };
        if g.saved.as_ref().is_some_and(|(s, _)| *s == sig) {
            return;
        }
        // A group that only ever committed offsets has no membership to keep.
        if g.saved.is_none() && g.members.is_empty() && g.protocol_type.is_none() {
            return;
        }
        let record = g.to_stored();
        if let Err(e) = self.write_membership(&g.id, Some(&record)) {
            tracing::warn!(group = %g.id, error = %e, "persisting group membership failed");
            return;
        }
        g.saved = Some((sig, record));
    }

    /// Deletes the membership record of a group that goes away.
    fn unsave(&self, g: &Group) {
        if g.saved.is_some()
            && let Err(e) = self.write_membership(&g.id, None)
        {
            tracing::warn!(group = %g.id, error = %e, "deleting group membership failed");
        }
    }

    fn write_membership(&self, id: &str, record: Option<&StoredGroup>) -> Result<()> {
        match &self.membership {
            Some(log) => log.append(&[(id, record)]),
            // Not awaited: losing the last record to a coordinator move costs a rejoin only.
            None => self.store.append_group(id, record).map(|_| ()),
        }
    }

    pub(crate) fn join(&self, req: JoinRequest) -> Pending<JoinOutcome> {
        use ResponseError as E;
        if !self.is_coordinator() {
            return Pending::Ready(JoinOutcome::error(code(E::NotCoordinator), &req.member_id));
        }
        if req.group_id.is_empty() {
            return Pending::Ready(JoinOutcome::error(code(E::InvalidGroupId), &req.member_id));
        }
        if req.session_timeout < MIN_SESSION_TIMEOUT || req.session_timeout > MAX_SESSION_TIMEOUT {
            return Pending::Ready(JoinOutcome::error(
                code(E::InvalidSessionTimeout),
                &req.member_id,
            ));
        }
        let mut groups = self.groups.lock();
        let group = groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(&req.group_id));
        if !group.consumer.is_empty() {
            return Pending::Ready(JoinOutcome::error(
                code(E::InconsistentGroupProtocol),
                &req.member_id,
            ));
        }
        // An empty consumer-protocol group becomes a classic one.
        group.consumer = consumer::ConsumerGroup::default();
        if !group.members.is_empty() {
            let same_type = group.protocol_type.as_deref() == Some(req.protocol_type.as_str());
            let shared = group.members.values().all(|m| {
                m.protocols
                    .iter()
                    .any(|(n, _)| req.protocols.iter().any(|(r, _)| r == n))
            });
            if !same_type || !shared {
                return Pending::Ready(JoinOutcome::error(
                    code(E::InconsistentGroupProtocol),
                    &req.member_id,
                ));
            }
        }
        let mut member_id = req.member_id.clone();
        if member_id.is_empty() {
            if let Some(existing) = req
                .instance_id
                .as_deref()
                .and_then(|i| group.member_by_instance(i))
            {
                // A static member restarting: it takes a new member id and keeps its place.
                member_id = format!(
                    "{}-{}",
                    req.instance_id.as_deref().unwrap_or(""),
                    uuid::Uuid::new_v4()
                );
                if let Some(m) = group.members.remove(&existing) {
                    group.members.insert(member_id.clone(), m);
                }
                if group.leader.as_deref() == Some(existing.as_str()) {
                    group.leader = Some(member_id.clone());
                }
                if group.state == GroupState::Stable {
                    // Kafka (KIP-345) keeps the generation when the rejoining static member's new
                    // protocols still lead to the protocol the group selected; only a change of
                    // the selected protocol rebalances. Its metadata is updated either way.
                    let previous = group
                        .members
                        .get(&member_id)
                        .map(|m| m.protocols.clone())
                        .unwrap_or_default();
                    if let Some(m) = group.members.get_mut(&member_id) {
                        m.protocols = req.protocols.clone();
                    }
                    if group.select_protocol() == group.protocol {
                        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
                        if let Some(m) = group.members.get_mut(&member_id) {
                            m.last_seen = Instant::now();
                            m.session_timeout = req.session_timeout;
                            m.rebalance_timeout = req.rebalance_timeout;
                        }
                        // The static member's new id is part of the membership: written now,
                        // so that it is known after a restart.
                        self.save(group);
                        return Pending::Ready(JoinOutcome {
                            error: 0,
                            generation: group.generation,
                            protocol_type: group.protocol_type.clone(),
                            protocol_name: group.protocol.clone(),
                            leader: group.leader.clone().unwrap_or_default(),
                            member_id,
                            // KIP-814: a static leader sees the members but keeps the assignment.
                            members: if is_leader {
                                group.roster()
                            } else {
                                Vec::new()
                            },
                            skip_assignment: is_leader,
                        });
                    }
                    if let Some(m) = group.members.get_mut(&member_id) {
                        m.protocols = previous;
                    }
                }
            } else {
                // Kafka prefixes a static member's id with its instance id, a dynamic one's
                // with its client id.
                let prefix = match req.instance_id.as_deref() {
                    Some(i) => i,
                    None if req.client_id.is_empty() => "member",
                    None => &req.client_id,
                };
                member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
                if req.require_known_member_id && req.instance_id.is_none() {
                    group.pending.insert(member_id.clone());
                    return Pending::Ready(JoinOutcome::error(
                        code(E::MemberIdRequired),
                        &member_id,
                    ));
                }
            }
        } else if group.instance_fenced(req.instance_id.as_deref(), &member_id) {
            return Pending::Ready(JoinOutcome::error(code(E::FencedInstanceId), &member_id));
        } else if !group.members.contains_key(&member_id) && !group.pending.remove(&member_id) {
            return Pending::Ready(JoinOutcome::error(code(E::UnknownMemberId), &member_id));
        }
        let known = group.members.contains_key(&member_id);
        let (tx, rx) = oneshot::channel();
        let order = self
            .join_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let m = group
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                instance_id: req.instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout: req.session_timeout,
                rebalance_timeout: req.rebalance_timeout,
                protocols: Vec::new(),
                assignment: Bytes::new(),
                last_seen: Instant::now(),
                joined_at: order,
                join_tx: None,
                sync_tx: None,
            });
        m.protocols = req.protocols;
        m.session_timeout = req.session_timeout;
        m.rebalance_timeout = req.rebalance_timeout;
        m.last_seen = Instant::now();
        if let Some(old) = m.join_tx.replace(tx) {
            let _ = old.send(JoinOutcome::error(code(E::UnknownMemberId), &member_id));
        }
        group.protocol_type = Some(req.protocol_type);
        let reason = format!(
            "member {member_id} joined ({})",
            if known { "rejoin" } else { "new" }
        );
        group.prepare_rebalance(self.initial_delay, &reason);
        match group.initial_join_until {
            // Initial delay: each joiner pushes the deadline out, never past the cap.
            Some(cap) => {
                group.rebalance_deadline = Some((Instant::now() + self.initial_delay).min(cap))
            }
            None if group.all_joined() => group.complete_join(),
            None => {}
        }
        let wait = group.max_rebalance_timeout() + Duration::from_secs(5);
        Pending::Wait(rx, wait)
    }

    pub(crate) fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> Pending<SyncOutcome> {
        use ResponseError as E;
        if !self.is_coordinator() {
            return Pending::Ready(SyncOutcome {
                error: code(E::NotCoordinator),
                ..SyncOutcome::default()
            });
        }
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Pending::Ready(SyncOutcome::error(code(E::UnknownMemberId)));
        };
        if group.instance_fenced(instance_id, member_id) {
            return Pending::Ready(SyncOutcome::error(code(E::FencedInstanceId)));
        }
        if !group.members.contains_key(member_id) {
            return Pending::Ready(SyncOutcome::error(code(E::UnknownMemberId)));
        }
        if generation != group.generation {
            return Pending::Ready(SyncOutcome::error(code(E::IllegalGeneration)));
        }
        let outcome = |g: &Group, a: Bytes| SyncOutcome {
            error: 0,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol.clone(),
            assignment: a,
        };
        match group.state {
            GroupState::Empty | GroupState::Assigning | GroupState::Reconciling => {
                Pending::Ready(SyncOutcome::error(code(E::UnknownMemberId)))
            }
            GroupState::PreparingRebalance => {
                Pending::Ready(SyncOutcome::error(code(E::RebalanceInProgress)))
            }
            GroupState::Stable => {
                let a = group
                    .members
                    .get(member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                Pending::Ready(outcome(group, a))
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = group.members.get_mut(member_id) {
                    m.last_seen = Instant::now();
                }
                if group.leader.as_deref() == Some(member_id) {
                    let given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    group.state = GroupState::Stable;
                    let (pt, pn) = (group.protocol_type.clone(), group.protocol.clone());
                    for (id, m) in group.members.iter_mut() {
                        m.assignment = given.get(id).cloned().unwrap_or_default();
                        if let Some(tx) = m.sync_tx.take() {
                            let _ = tx.send(SyncOutcome {
                                error: 0,
                                protocol_type: pt.clone(),
                                protocol_name: pn.clone(),
                                assignment: m.assignment.clone(),
                            });
                        }
                    }
                    self.save(group);
                    let a = group
                        .members
                        .get(member_id)
                        .map(|m| m.assignment.clone())
                        .unwrap_or_default();
                    Pending::Ready(outcome(group, a))
                } else {
                    let (tx, rx) = oneshot::channel();
                    let wait = group
                        .members
                        .get(member_id)
                        .map_or(Duration::from_secs(60), |m| m.session_timeout)
                        + Duration::from_secs(5);
                    if let Some(m) = group.members.get_mut(member_id) {
                        m.sync_tx = Some(tx);
                    }
                    Pending::Wait(rx, wait)
                }
            }
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848); `catalog` is every topic of the cluster.
    pub(crate) fn consumer_heartbeat(
        &self,
        group_id: &str,
        hb: ConsumerHeartbeat,
        catalog: &TopicCatalog,
    ) -> HeartbeatOutcome {
        use ResponseError as E;
        if !self.is_coordinator() {
            return HeartbeatOutcome::error(
                E::NotCoordinator,
                "this broker is not the coordinator",
            );
        }
        if group_id.is_empty() {
            return HeartbeatOutcome::error(E::InvalidRequest, "GroupId can't be empty");
        }
        let mut groups = self.groups.lock();
        let group = groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id));
        if !group.members.is_empty() || group.state != GroupState::Empty {
            return HeartbeatOutcome::error(
                E::GroupIdNotFound,
                format!(
                    "Group {group_id} is not a consumer group: it has members of the classic protocol"
                ),
            );
        }
        let was_empty = group.consumer.is_empty();
        let out = group
            .consumer
            .heartbeat(group_id, hb, catalog, Instant::now());
        if group.consumer.is_empty() && !was_empty {
            group.empty_since_ms = crate::broker::now_ms();
        }
        out
    }

    pub(crate) fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        use ResponseError as E;
        if !self.is_coordinator() {
            return code(E::NotCoordinator);
        }
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return code(E::UnknownMemberId);
        };
        if group.instance_fenced(instance_id, member_id) {
            return code(E::FencedInstanceId);
        }
        let state = group.state;
        let current = group.generation;
        let Some(m) = group.members.get_mut(member_id) else {
            return code(E::UnknownMemberId);
        };
        m.last_seen = Instant::now();
        match state {
            GroupState::PreparingRebalance => code(E::RebalanceInProgress),
            _ if generation != current => code(E::IllegalGeneration),
            // A member may heartbeat between its JoinGroup and SyncGroup answers: Kafka takes
            // it as a heartbeat (the session goes on) and answers NONE.
            _ => 0,
        }
    }

    /// Removes members by id or, for static members, by instance id. Returns per-member codes.
    pub(crate) fn leave(
        &self,
        group_id: &str,
        members: Vec<(String, Option<String>)>,
    ) -> Result<Vec<i16>, i16> {
        if !self.is_coordinator() {
            return Err(code(ResponseError::NotCoordinator));
        }
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Err(code(ResponseError::UnknownMemberId));
        };
        Ok(members
            .into_iter()
            .map(|(id, instance)| {
                // A named member leaves by its id (refused when a newer member holds its
                // instance); an empty id with an instance id is an admin removing that instance.
                let found = if id.is_empty() {
                    instance
                        .as_deref()
                        .and_then(|i| group.member_by_instance(i))
                } else if group.instance_fenced(instance.as_deref(), &id) {
                    return code(ResponseError::FencedInstanceId);
                } else if group.members.contains_key(&id) {
                    Some(id)
                } else {
                    None
                };
                match found {
                    Some(id) => {
                        group.remove_member(&id, self.initial_delay);
                        self.save(group);
                        0
                    }
                    None => code(ResponseError::UnknownMemberId),
                }
            })
            .collect())
    }

    /// Expires members whose session lapsed and completes rebalances whose deadline passed.
    pub(crate) fn tick(&self) {
        let now = Instant::now();
        let coordinating = self.is_coordinator();
        let mut groups = self.groups.lock();
        for group in groups.values_mut() {
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|(_, m)| {
                    m.join_tx.is_none()
                        && m.sync_tx.is_none()
                        && now.duration_since(m.last_seen) > m.session_timeout
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                tracing::info!(group = %group.id, member = %id, "session expired; removing member");
                group.remove_member(&id, self.initial_delay);
            }
            let lapsed = group.consumer.expired(now);
            for (id, why) in lapsed {
                tracing::info!(group = %group.id, member = %id, why, "removing consumer group member");
                group.consumer.remove(&id);
                if group.consumer.is_empty() {
                    group.empty_since_ms = crate::broker::now_ms();
                }
            }
            if group.state == GroupState::PreparingRebalance
                && group.rebalance_deadline.is_some_and(|d| now >= d)
            {
                group.complete_join();
            }
            if coordinating {
                self.save(group);
            }
        }
        // offsets.retention.minutes (KIP-211): once a group has no members, its offsets expire
        // that long after the later of their commit and the group becoming empty.
        let expire_before = crate::broker::now_ms() - self.offsets_retention.as_millis() as i64;
        for (id, g) in groups
            .iter_mut()
            .filter(|(_, g)| g.state == GroupState::Empty && g.consumer.is_empty())
        {
            let old: Vec<_> = g
                .offsets
                .iter()
                .filter(|(_, c)| c.commit_ms.max(g.empty_since_ms) < expire_before)
                .map(|(tp, _)| (tp.clone(), None))
                .collect();
            if !old.is_empty() && self.store.append(id, &old).is_ok() {
                tracing::info!(group = %id, partitions = old.len(), "committed offsets expired");
                for (tp, _) in old {
                    g.offsets.remove(&tp);
                }
            }
        }
        let now_ms = crate::broker::now_ms();
        let linger = EMPTY_GROUP_RETENTION_MS.min(self.offsets_retention.as_millis() as i64);
        groups.retain(|_, g| {
            let keep = g.state != GroupState::Empty
                || !g.consumer.is_empty()
                || !g.offsets.is_empty()
                || !g.pending.is_empty()
                || now_ms - g.empty_since_ms < linger;
            if !keep {
                self.unsave(g);
            }
            keep
        });
        let live: usize = groups.values().map(|g| g.offsets.len()).sum();
        if self.store.needs_compaction(live) {
            let map: OffsetMap = groups
                .iter()
                .filter(|(_, g)| !g.offsets.is_empty())
                .map(|(id, g)| (id.clone(), g.offsets.clone()))
                .collect();
            if let Err(e) = self.store.compact(&map) {
                tracing::error!(error = %e, "compacting committed offsets failed");
            }
        }
        if let Some(log) = &self.membership {
            let saved: Vec<(&str, Option<&StoredGroup>)> = groups
                .iter()
                .filter_map(|(id, g)| g.saved.as_ref().map(|(_, r)| (id.as_str(), Some(r))))
                .collect();
            if log.should_compact(saved.len())
                && let Err(e) = log.compact(&saved)
            {
                tracing::error!(error = %e, "compacting group membership failed");
            }
        }
        drop(groups);
        self.store.advance_cut();
        self.store.flush_if_due();
        if let Some(log) = &self.membership {
            log.flush_if_due();
        }
    }

    /// In a cluster: compacts the coordinator partition when enough of it is superseded (see
    /// [`OffsetStore::compact_replicated`]). `txns` is the transaction coordinator's state,
    /// whose lock the caller holds; the groups' lock is taken here, so no writer interleaves.
    pub(crate) fn compact_coordinator_log(&self, txns: &HashMap<String, crate::txn::TxnMeta>) {
        let groups = self.groups.lock();
        let saved: Vec<(&str, &StoredGroup)> = groups
            .iter()
            .filter_map(|(id, g)| g.saved.as_ref().map(|(_, r)| (id.as_str(), r)))
            .collect();
        let live =
            groups.values().map(|g| g.offsets.len()).sum::<usize>() + saved.len() + txns.len();
        if !self.store.wants_compaction(live) {
            return;
        }
        let offsets = groups.iter().map(|(id, g)| (id, &g.offsets));
        if let Err(e) = self.store.compact_replicated(offsets, saved, txns) {
            tracing::error!(error = %e, "compacting the coordinator partition failed");
        }
    }

    /// OffsetCommit. `generation < 0` with no member id is a commit from outside the group
    /// (admin tools, `assign()` consumers), allowed while the group has no members.
    pub(crate) fn commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<((String, i32), Committed)>,
        topic_exists: impl Fn(&str, i32) -> bool,
    ) -> Result<(CommitResult, Option<Durable>), i16> {
        use ResponseError as E;
        if group_id.is_empty() {
            return Err(code(E::InvalidGroupId));
        }
        if !self.is_coordinator() {
            return Err(code(E::NotCoordinator));
        }
        let mut groups = self.groups.lock();
        let group = groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id));
        if generation < 0 && member_id.is_empty() {
            if !group.members.is_empty() || !group.consumer.is_empty() {
                return Err(code(E::UnknownMemberId));
            }
        } else {
            group
                .check_committer(generation, member_id, instance_id)
                .map_err(code)?;
            if group.state == GroupState::CompletingRebalance {
                return Err(code(E::RebalanceInProgress));
            }
            if let Some(m) = group.members.get_mut(member_id) {
                m.last_seen = Instant::now();
            }
        }
        let mut results = Vec::with_capacity(offsets.len());
        let mut accepted = Vec::with_capacity(offsets.len());
        for ((topic, partition), c) in offsets {
            let err = if c
                .metadata
                .as_ref()
                .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
            {
                code(E::OffsetMetadataTooLarge)
            } else if !topic_exists(&topic, partition) {
                code(E::UnknownTopicOrPartition)
            } else {
                accepted.push(((topic.clone(), partition), Some(c)));
                0
            };
            results.push(((topic, partition), err));
        }
        let durable = match self.store.append(group_id, &accepted) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(group = group_id, error = %e, "persisting offsets failed");
                return Err(e.kafka_code());
            }
        };
        for (tp, c) in accepted {
            if let Some(c) = c {
                group.offsets.insert(tp, c);
            }
        }
        Ok((results, durable))
    }

    /// Checks the group fields of a TxnOffsetCommit (v3+, KIP-447), so that a zombie producer
    /// whose consumer lost its partitions cannot commit offsets: a request naming no member
    /// and no generation is a producer outside any group and passes.
    pub(crate) fn check_txn_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), i16> {
        use ResponseError as E;
        if generation < 0 && member_id.is_empty() && instance_id.is_none() {
            return Ok(());
        }
        if !self.is_coordinator() {
            return Err(code(E::NotCoordinator));
        }
        let groups = self.groups.lock();
        let Some(group) = groups.get(group_id) else {
            return Err(code(E::UnknownMemberId));
        };
        group
            .check_committer(generation, member_id, instance_id)
            .map_err(code)
    }

    /// Applies the offsets of a committed transaction (validated when they were sent); in a
    /// cluster they are durable once the returned [`Durable`] is.
    pub(crate) fn commit_transactional(
        &self,
        group_id: &str,
        offsets: Vec<((String, i32), Committed)>,
    ) -> Result<Option<Durable>, i16> {
        let mut groups = self.groups.lock();
        let group = groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id));
        let entries: Vec<_> = offsets
            .iter()
            .map(|(tp, c)| (tp.clone(), Some(c.clone())))
            .collect();
        let durable = self
            .store
            .append(group_id, &entries)
            .map_err(|e| e.kafka_code())?;
        for (tp, c) in offsets {
            group.offsets.insert(tp, c);
        }
        Ok(durable)
    }

    /// The committed offset of one partition, for groups the broker drives itself (pipelines,
    /// dead-letter replay).
    pub(crate) fn committed_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> Option<i64> {
        self.fetch_offsets(group_id, Some(vec![(topic.to_string(), partition)]))
            .into_iter()
            .next()
            .and_then(|(_, c)| c)
            .map(|c| c.offset)
    }

    /// Commits one partition's offset for a group the broker drives itself (no members, no
    /// generation); in a cluster it is durable once the returned [`Durable`] is.
    pub(crate) fn commit_internal(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<Option<Durable>, i16> {
        self.commit_transactional(
            group_id,
            vec![(
                (topic.to_string(), partition),
                Committed {
                    offset,
                    leader_epoch: -1,
                    metadata: None,
                    commit_ms: crate::broker::now_ms(),
                },
            )],
        )
    }

    /// Committed offsets of a group: the requested partitions, or all when `None`.
    pub(crate) fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<Vec<(String, i32)>>,
    ) -> Vec<((String, i32), Option<Committed>)> {
        let groups = self.groups.lock();
        let offsets = groups.get(group_id).map(|g| &g.offsets);
        match partitions {
            Some(list) => list
                .into_iter()
                .map(|tp| {
                    let c = offsets.and_then(|o| o.get(&tp).cloned());
                    (tp, c)
                })
                .collect(),
            None => offsets
                .map(|o| {
                    o.iter()
                        .map(|(tp, c)| (tp.clone(), Some(c.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// `(group id, protocol type, state, group type)` of every group, the group type being
    /// "consumer" for the KIP-848 protocol and "classic" otherwise.
    pub fn list(&self) -> Vec<(String, String, GroupState, &'static str)> {
        let groups = self.groups.lock();
        let mut v: Vec<_> = groups
            .iter()
            .map(|(id, g)| {
                if !g.is_consumer_group() {
                    (
                        id.clone(),
                        g.protocol_type.clone().unwrap_or_default(),
                        g.state,
                        "classic",
                    )
                } else {
                    (
                        id.clone(),
                        "consumer".to_string(),
                        g.consumer.state(),
                        "consumer",
                    )
                }
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// ConsumerGroupDescribe: a consumer-protocol group, or GROUP_ID_NOT_FOUND with Kafka's
    /// message for a group that does not exist or is a classic group (the admin clients then
    /// describe it with DescribeGroups).
    pub(crate) fn describe_consumer(
        &self,
        group_id: &str,
    ) -> Result<consumer::ConsumerGroupDescription, (ResponseError, String)> {
        match self.groups.lock().get(group_id) {
            None => Err((
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} not found."),
            )),
            Some(g) if !g.is_consumer_group() => Err((
                ResponseError::GroupIdNotFound,
                format!("Group {group_id} is not a consumer group."),
            )),
            Some(g) => Ok(g.consumer.description()),
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupView> {
        let groups = self.groups.lock();
        let g = groups.get(group_id)?;
        let offsets = g
            .offsets
            .iter()
            .map(|(tp, c)| (tp.clone(), c.offset))
            .collect();
        if g.is_consumer_group() {
            return Some(GroupView {
                group_id: group_id.to_string(),
                state: g.consumer.state(),
                protocol_type: "consumer".to_string(),
                protocol: g.consumer.assignor.clone(),
                generation: g.consumer.epoch(),
                members: g.consumer.classic_view(),
                offsets,
            });
        }
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(GroupView {
            group_id: group_id.to_string(),
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if g.state == GroupState::Stable || g.state == GroupState::CompletingRebalance
            {
                protocol.clone()
            } else {
                String::new()
            },
            generation: g.generation,
            members: g
                .members
                .iter()
                .map(|(id, m)| {
                    let meta = m.metadata_for(&protocol);
                    (
                        id.clone(),
                        m.instance_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                        meta,
                        m.assignment.clone(),
                    )
                })
                .collect(),
            offsets,
        })
    }

    /// DeleteGroups: only groups without members; their offsets go too.
    pub(crate) fn delete_group(&self, group_id: &str) -> i16 {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get(group_id) else {
            return code(ResponseError::GroupIdNotFound);
        };
        if !g.members.is_empty() || !g.consumer.is_empty() {
            return code(ResponseError::NonEmptyGroup);
        }
        let tombstones: Vec<_> = g.offsets.keys().map(|tp| (tp.clone(), None)).collect();
        if let Err(e) = self.store.append(group_id, &tombstones) {
            return e.kafka_code();
        }
        self.unsave(g);
        groups.remove(group_id);
        0
    }

    /// OffsetDelete: removes committed offsets, except those of topics the group's members
    /// subscribe to (GROUP_SUBSCRIBED_TO_TOPIC), as Kafka does.
    pub(crate) fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<CommitResult, i16> {
        let mut groups = self.groups.lock();
        let Some(g) = groups.get_mut(group_id) else {
            return Err(code(ResponseError::GroupIdNotFound));
        };
        let active = !g.members.is_empty() || !g.consumer.is_empty();
        let subscribed = if !g.consumer.is_empty() {
            g.consumer.named_topics().into_iter().collect()
        } else if active {
            g.subscribed_topics()
        } else {
            HashSet::new()
        };
        // With members whose subscriptions cannot be read, refuse everything (the safe side).
        let refused = |t: &str| active && (subscribed.is_empty() || subscribed.contains(t));
        let tombstones: Vec<_> = partitions
            .iter()
            .filter(|(t, _)| !refused(t))
            .filter(|tp| g.offsets.contains_key(*tp))
            .map(|tp| (tp.clone(), None))
            .collect();
        self.store
            .append(group_id, &tombstones)
            .map_err(|e| e.kafka_code())?;
        for (tp, _) in &tombstones {
            g.offsets.remove(tp);
        }
        Ok(partitions
            .into_iter()
            .map(|(t, p)| {
                let c = if refused(&t) {
                    code(ResponseError::GroupSubscribedToTopic)
                } else {
                    0
                };
                ((t, p), c)
            })
            .collect())
    }

    /// Drops committed offsets of a deleted topic.
    pub(crate) fn forget_topic(&self, topic: &str) {
        let mut groups = self.groups.lock();
        for (id, g) in groups.iter_mut() {
            let gone: Vec<_> = g
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .map(|tp| (tp.clone(), None))
                .collect();
            if gone.is_empty() {
                continue;
            }
            if self.store.append(id, &gone).is_ok() {
                for (tp, _) in gone {
                    g.offsets.remove(&tp);
                }
            }
        }
    }

    pub(crate) fn close(&self) -> Result<()> {
        if let Some(log) = &self.membership {
            log.close()?;
        }
        self.store.close()
    }
}

/// The groups a coordinator starts with: committed offsets and membership records, read from
/// their journals.
fn assemble(offsets: OffsetMap, membership: stored::GroupEntries) -> HashMap<String, Group> {
    let mut groups: HashMap<String, Group> = stored::fold(membership)
        .into_iter()
        .map(|(id, record)| {
            let g = Group::from_stored(&id, record);
            (id, g)
        })
        .collect();
    for (id, o) in offsets {
        groups
            .entry(id.clone())
            .or_insert_with(|| Group::new(&id))
            .offsets = o;
    }
    groups
}
