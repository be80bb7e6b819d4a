//! A group's membership as it is kept across restarts and coordinator moves, as Kafka keeps
//! its GroupMetadata records in `__consumer_offsets`: the generation, the protocol, the leader
//! and each member with its subscription and assignment. A coordinator that loads it knows the
//! members, so they carry on heartbeating instead of rejoining (no rebalance).
//!
//! Only the settled states are written: Stable (after the leader's SyncGroup) and Empty (after
//! the last member left). A coordinator that stops mid-rebalance loads the last stable
//! generation; its members are told to rejoin, as at Kafka.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Group, GroupState, Member};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredGroup {
    pub(crate) protocol_type: Option<String>,
    pub(crate) generation: i32,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) members: Vec<StoredMember>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredMember {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: u64,
    pub(crate) rebalance_timeout_ms: u64,
    /// The member's subscription for the selected protocol.
    pub(crate) metadata: Vec<u8>,
    pub(crate) assignment: Vec<u8>,
}

/// Group membership records read back, in log order (`None`: the group was deleted).
pub(crate) type GroupEntries = Vec<(String, Option<StoredGroup>)>;

impl Group {
    /// What identifies the stored record of a settled group: its state, generation, leader and
    /// member ids (a static member that restarts changes its id without a new generation).
    /// `None` while a rebalance is under way, when nothing is written.
    pub(super) fn settled_signature(&self) -> Option<u64> {
        if !matches!(self.state, GroupState::Stable | GroupState::Empty) {
            return None;
        }
        let mut h = DefaultHasher::new();
        (self.state == GroupState::Stable).hash(&mut h);
        self.generation.hash(&mut h);
        self.leader.hash(&mut h);
        self.protocol_type.hash(&mut h);
        for id in self.members.keys() {
            id.hash(&mut h);
        }
        Some(h.finish())
    }

    pub(super) fn to_stored(&self) -> StoredGroup {
        let protocol = self.protocol.clone().unwrap_or_default();
        StoredGroup {
            protocol_type: self.protocol_type.clone(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| StoredMember {
                    id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout.as_millis() as u64,
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as u64,
                    metadata: m.metadata_for(&protocol).to_vec(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    /// The group a coordinator loads: Stable with its members, whose sessions start now, or
    /// Empty.
    pub(super) fn from_stored(id: &str, s: StoredGroup) -> Group {
        let record = s.clone();
        let mut g = Group::new(id);
        g.generation = s.generation;
        g.protocol_type = s.protocol_type;
        let protocol = s.protocol.clone().unwrap_or_default();
        let now = Instant::now();
        g.members = s
            .members
            .into_iter()
            .enumerate()
            .map(|(order, m)| {
                let member = Member {
                    instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout: Duration::from_millis(m.session_timeout_ms),
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms),
                    protocols: vec![(protocol.clone(), Bytes::from(m.metadata))],
                    assignment: Bytes::from(m.assignment),
                    last_seen: now,
                    joined_at: order as u64,
                    join_tx: None,
                    sync_tx: None,
                };
                (m.id, member)
            })
            .collect::<BTreeMap<_, _>>();
        if g.members.is_empty() {
            g.state = GroupState::Empty;
        } else {
            g.state = GroupState::Stable;
            g.protocol = s.protocol;
            g.leader = s.leader.filter(|l| g.members.contains_key(l));
        }
        g.saved = g.settled_signature().map(|sig| (sig, record));
        g
    }
}

/// Folds membership records (last write wins; `None` deletes).
pub(crate) fn fold(entries: GroupEntries) -> BTreeMap<String, StoredGroup> {
    let mut out = BTreeMap::new();
    for (id, g) in entries {
        match g {
            Some(g) => out.insert(id, g),
            None => out.remove(&id),
        };
    }
    out
}
