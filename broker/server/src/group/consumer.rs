//! The consumer group protocol of KIP-848 (`group.protocol=consumer`): members heartbeat with
//! ConsumerGroupHeartbeat, and the coordinator assigns partitions itself.
//!
//! The group has an epoch, bumped whenever what the assignment depends on changes (a member
//! joins or leaves, a subscription changes, a subscribed topic gains partitions). At a new epoch
//! the coordinator computes a target assignment with a server-side assignor (`uniform`, sticky and
//! balanced, or `range`). Each member then reconciles towards its target one heartbeat at a time,
//! as Kafka's coordinator does: partitions it must give up are revoked first (its epoch stays
//! until it acknowledges by no longer listing them as owned), then it moves to the target epoch
//! and receives the new partitions that no other member still holds; those still held come with
//! later heartbeats, once released. A partition is therefore never owned by two members.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::kafka::ResponseError;

use super::GroupState;

/// `group.consumer.heartbeat.interval.ms`: how often members heartbeat.
pub(crate) const HEARTBEAT_INTERVAL_MS: i32 = 5_000;
/// `group.consumer.session.timeout.ms`: a member silent this long leaves the group.
pub(crate) const SESSION_TIMEOUT: Duration = Duration::from_secs(45);
/// Epochs a leaving member sends: -1 leaves, -2 leaves for a while (a static member).
const LEAVE_EPOCH: i32 = -1;
const STATIC_LEAVE_EPOCH: i32 = -2;
/// The assignors served, the first being the default (`group.consumer.assignors`).
pub(crate) const ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// A topic partition by name.
pub(crate) type Tp = (String, i32);
pub(crate) type Parts = BTreeSet<Tp>;

/// The topics the coordinator may assign: name -> (topic id, partition count).
pub(crate) type TopicCatalog = BTreeMap<String, (uuid::Uuid, i32)>;

/// One ConsumerGroupHeartbeat, with topic ids already turned into names.
pub(crate) struct Heartbeat {
    pub(crate) member_id: String,
    pub(crate) member_epoch: i32,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) subscribed_topic_names: Option<Vec<String>>,
    pub(crate) subscribed_topic_regex: Option<String>,
    pub(crate) server_assignor: Option<String>,
    /// The partitions the member owns, when it says (`None`: unchanged since it last said).
    pub(crate) owned: Option<Parts>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
}

/// What a ConsumerGroupHeartbeat gets back.
#[derive(Debug, Default)]
pub(crate) struct HeartbeatOutcome {
    pub(crate) error: i16,
    pub(crate) message: Option<String>,
    pub(crate) member_id: String,
    pub(crate) member_epoch: i32,
    /// The member's assignment, when it changed since the member was last told.
    pub(crate) assignment: Option<Parts>,
}

impl HeartbeatOutcome {
    pub(crate) fn error(e: ResponseError, message: impl Into<String>) -> HeartbeatOutcome {
        HeartbeatOutcome {
            error: e.code(),
            message: Some(message.into()),
            ..HeartbeatOutcome::default()
        }
    }
}

pub(crate) struct ConsumerMember {
    epoch: i32,
    previous_epoch: i32,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    rebalance_timeout: Duration,
    subscribed: Vec<String>,
    regex: Option<regex::Regex>,
    assignor: Option<String>,
    /// What the member owns (as far as the coordinator has told it).
    pub(crate) assigned: Parts,
    /// Partitions the member was told to give up and has not yet acknowledged.
    revoking: Parts,
    revoking_since: Option<Instant>,
    last_seen: Instant,
    /// The assignment last sent, to send it again only when it changes.
    sent: Option<Parts>,
}

impl ConsumerMember {
    fn subscribes_to(&self, topic: &str) -> bool {
        self.subscribed.iter().any(|t| t == topic)
            || self
                .regex
                .as_ref()
                .is_some_and(|r| !topic.starts_with("__") && r.is_match(topic))
    }
}

/// A consumer group as ConsumerGroupDescribe shows it.
pub(crate) struct ConsumerGroupDescription {
    pub(crate) state: GroupState,
    pub(crate) group_epoch: i32,
    pub(crate) assignment_epoch: i32,
    pub(crate) assignor: String,
    pub(crate) members: Vec<MemberDescription>,
}

/// One member of a [`ConsumerGroupDescription`].
pub(crate) struct MemberDescription {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) rack_id: Option<String>,
    pub(crate) member_epoch: i32,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) subscribed_topic_names: Vec<String>,
    pub(crate) subscribed_topic_regex: Option<String>,
    /// What the member owns now.
    pub(crate) assignment: Parts,
    /// What it is to own once reconciled.
    pub(crate) target_assignment: Parts,
}

/// A consumer group's members, epochs and target assignment.
#[derive(Default)]
pub(crate) struct ConsumerGroup {
    epoch: i32,
    assignment_epoch: i32,
    pub(crate) members: BTreeMap<String, ConsumerMember>,
    target: BTreeMap<String, Parts>,
    /// The subscribed topics and their partition counts the target was computed for.
    catalog_seen: Vec<(String, i32)>,
    pub(crate) assignor: String,
}

impl ConsumerGroup {
    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Empty, Assigning (the target of the newest epoch is not computed yet), Reconciling (a
    /// member has not reached its target) or Stable.
    pub(crate) fn state(&self) -> GroupState {
        if self.members.is_empty() {
            GroupState::Empty
        } else if self.assignment_epoch < self.epoch {
            GroupState::Assigning
        } else if self.members.iter().any(|(id, m)| {
            m.epoch != self.assignment_epoch
                || !m.revoking.is_empty()
                || self.target.get(id).is_some_and(|t| *t != m.assigned)
        }) {
            GroupState::Reconciling
        } else {
            GroupState::Stable
        }
    }

    /// Topics any member subscribes to, among those that exist.
    pub(crate) fn subscribed_topics(&self, catalog: &TopicCatalog) -> BTreeSet<String> {
        catalog
            .keys()
            .filter(|t| self.members.values().any(|m| m.subscribes_to(t)))
            .cloned()
            .collect()
    }

    /// Topics named in subscriptions (regular expressions aside), whether they exist or not.
    pub(crate) fn named_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect()
    }

    fn bump(&mut self) {
        self.epoch += 1;
    }

    /// Removes a member; its partitions become free for the others.
    pub(crate) fn remove(&mut self, id: &str) -> bool {
        let gone = self.members.remove(id).is_some();
        if gone {
            self.target.remove(id);
            self.bump();
        }
        gone
    }

    /// Members whose session lapsed or who did not give up their partitions within their
    /// rebalance timeout; the caller removes them.
    pub(crate) fn expired(&self, now: Instant) -> Vec<(String, &'static str)> {
        self.members
            .iter()
            .filter_map(|(id, m)| {
                if now.duration_since(m.last_seen) > SESSION_TIMEOUT {
                    Some((id.clone(), "session expired"))
                } else if m
                    .revoking_since
                    .is_some_and(|t| now.duration_since(t) > m.rebalance_timeout)
                {
                    Some((
                        id.clone(),
                        "did not revoke its partitions within the rebalance timeout",
                    ))
                } else {
                    None
                }
            })
            .collect()
    }

    /// Checks an offset commit's member and epoch (OffsetCommit v9+, TxnOffsetCommit).
    pub(crate) fn check_commit(&self, member_id: &str, epoch: i32) -> Result<(), ResponseError> {
        let Some(m) = self.members.get(member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if epoch > m.epoch {
            Err(ResponseError::FencedMemberEpoch)
        } else if epoch < m.epoch {
            Err(ResponseError::StaleMemberEpoch)
        } else {
            Ok(())
        }
    }

    /// Handles one heartbeat. `catalog` is every topic the cluster has.
    pub(crate) fn heartbeat(
        &mut self,
        group_id: &str,
        hb: Heartbeat,
        catalog: &TopicCatalog,
        now: Instant,
    ) -> HeartbeatOutcome {
        use ResponseError as E;
        if let Some(a) = &hb.server_assignor
            && !ASSIGNORS.contains(&a.as_str())
        {
            return HeartbeatOutcome::error(
                E::UnsupportedAssignor,
                format!(
                    "assignor {a} is not served; the broker offers {}",
                    ASSIGNORS.join(", ")
                ),
            );
        }
        let regex = match hb.subscribed_topic_regex.as_deref() {
            None | Some("") => None,
            Some(r) => match regex::Regex::new(&format!("^(?:{r})$")) {
                Ok(re) => Some(re),
                Err(e) => {
                    return HeartbeatOutcome::error(
                        E::InvalidRegularExpression,
                        format!("invalid regular expression {r}: {e}"),
                    );
                }
            },
        };
        let mut member_id = hb.member_id.clone();
        match hb.member_epoch {
            LEAVE_EPOCH | STATIC_LEAVE_EPOCH => {
                let found = if self.members.contains_key(&member_id) {
                    Some(member_id.clone())
                } else {
                    hb.instance_id.as_deref().and_then(|i| self.by_instance(i))
                };
                return match found {
                    // A static member leaving for a while keeps its partitions until its
                    // session lapses: the same instance coming back takes them over, with no
                    // rebalance (KIP-848's static membership).
                    Some(id)
                        if hb.member_epoch == STATIC_LEAVE_EPOCH
                            && self
                                .members
                                .get(&id)
                                .is_some_and(|m| m.instance_id.is_some()) =>
                    {
                        tracing::info!(group = group_id, member = %id, "static member left for now");
                        HeartbeatOutcome {
                            member_id: id,
                            member_epoch: hb.member_epoch,
                            ..HeartbeatOutcome::default()
                        }
                    }
                    Some(id) => {
                        self.remove(&id);
                        tracing::info!(group = group_id, member = %id, "member left the group");
                        HeartbeatOutcome {
                            member_id: id,
                            member_epoch: hb.member_epoch,
                            ..HeartbeatOutcome::default()
                        }
                    }
                    None => HeartbeatOutcome::error(
                        E::UnknownMemberId,
                        format!("member {member_id} is not in group {group_id}"),
                    ),
                };
            }
            0 => {
                if hb.subscribed_topic_names.is_none() && regex.is_none() {
                    return HeartbeatOutcome::error(
                        E::InvalidRequest,
                        "a joining member must send SubscribedTopicNames or SubscribedTopicRegex",
                    );
                }
                if hb.rebalance_timeout_ms <= 0 {
                    return HeartbeatOutcome::error(
                        E::InvalidRequest,
                        "a joining member must send a positive RebalanceTimeoutMs",
                    );
                }
                if member_id.is_empty() {
                    member_id = new_member_id();
                }
                // A static member coming back takes over its instance's place and partitions.
                let inherited = match hb.instance_id.as_deref().and_then(|i| self.by_instance(i)) {
                    Some(old) if old != member_id => self.members.remove(&old).map(|m| {
                        if let Some(t) = self.target.remove(&old) {
                            self.target.insert(member_id.clone(), t);
                        }
                        let same = hb.subscribed_topic_names.as_ref() == Some(&m.subscribed)
                            && regex.as_ref().map(|r| r.as_str())
                                == m.regex.as_ref().map(|r| r.as_str());
                        (m.assigned, m.revoking, m.epoch, same)
                    }),
                    _ => None,
                };
                // A member that rejoins under its id (after it was fenced) starts over.
                let existed = self.members.remove(&member_id).is_some();
                let same_subscription = inherited.as_ref().is_some_and(|i| i.3);
                let (assigned, revoking, epoch, _) = inherited.unwrap_or_default();
                self.members.insert(
                    member_id.clone(),
                    ConsumerMember {
                        epoch,
                        previous_epoch: epoch,
                        instance_id: hb.instance_id.clone(),
                        rack_id: hb.rack_id.clone(),
                        client_id: hb.client_id.clone(),
                        client_host: hb.client_host.clone(),
                        rebalance_timeout: Duration::from_millis(hb.rebalance_timeout_ms as u64),
                        subscribed: hb.subscribed_topic_names.clone().unwrap_or_default(),
                        regex: regex.clone(),
                        assignor: hb.server_assignor.clone(),
                        revoking_since: (!revoking.is_empty()).then_some(now),
                        assigned,
                        revoking,
                        last_seen: now,
                        sent: None,
                    },
                );
                if !same_subscription || existed {
                    self.bump();
                }
                tracing::info!(group = group_id, member = %member_id, "member joined the group");
            }
            epoch => {
                let Some(m) = self.members.get(&member_id) else {
                    return HeartbeatOutcome::error(
                        E::UnknownMemberId,
                        format!("member {member_id} is not in group {group_id}"),
                    );
                };
                // The member may have missed the answer that moved it on: its previous epoch
                // is fine as long as it owns nothing it should not.
                let lost_answer = epoch == m.previous_epoch
                    && hb.owned.as_ref().is_some_and(|o| o.is_subset(&m.assigned));
                if epoch != m.epoch && !lost_answer {
                    return HeartbeatOutcome::error(
                        E::FencedMemberEpoch,
                        format!(
                            "member {member_id} sent epoch {epoch}, its epoch is {}",
                            m.epoch
                        ),
                    );
                }
                if lost_answer && let Some(m) = self.members.get_mut(&member_id) {
                    m.sent = None;
                }
            }
        }
        let Some(m) = self.members.get_mut(&member_id) else {
            return HeartbeatOutcome::error(E::UnknownMemberId, "member vanished");
        };
        m.last_seen = now;
        let mut changed = false;
        if let Some(names) = hb.subscribed_topic_names
            && names != m.subscribed
        {
            m.subscribed = names;
            changed = true;
        }
        if hb.subscribed_topic_regex.is_some()
            && regex.as_ref().map(|r| r.as_str()) != m.regex.as_ref().map(|r| r.as_str())
        {
            m.regex = regex;
            changed = true;
        }
        if hb.server_assignor.is_some() && hb.server_assignor != m.assignor {
            m.assignor = hb.server_assignor;
            changed = true;
        }
        if hb.rebalance_timeout_ms > 0 {
            m.rebalance_timeout = Duration::from_millis(hb.rebalance_timeout_ms as u64);
        }
        if hb.rack_id.is_some() {
            m.rack_id = hb.rack_id;
        }
        if changed {
            self.bump();
        }
        // New partitions on a subscribed topic, or a subscribed topic created or deleted.
        let seen: Vec<(String, i32)> = self
            .subscribed_topics(catalog)
            .into_iter()
            .map(|t| {
                let n = catalog.get(&t).map_or(0, |(_, n)| *n);
                (t, n)
            })
            .collect();
        if seen != self.catalog_seen {
            self.catalog_seen = seen;
            self.bump();
        }
        if self.assignment_epoch < self.epoch {
            self.assign(catalog);
            tracing::info!(
                group = group_id,
                epoch = self.epoch,
                members = self.members.len(),
                assignor = %self.assignor,
                "consumer group: new target assignment"
            );
        }
        self.reconcile(&member_id, hb.owned.as_ref(), now);
        let Some(m) = self.members.get_mut(&member_id) else {
            return HeartbeatOutcome::error(E::UnknownMemberId, "member vanished");
        };
        let assignment = if m.sent.as_ref() != Some(&m.assigned) {
            m.sent = Some(m.assigned.clone());
            Some(m.assigned.clone())
        } else {
            None
        };
        HeartbeatOutcome {
            error: 0,
            message: None,
            member_id,
            member_epoch: m.epoch,
            assignment,
        }
    }

    fn by_instance(&self, instance: &str) -> Option<String> {
        self.members
            .iter()
            .find(|(_, m)| m.instance_id.as_deref() == Some(instance))
            .map(|(id, _)| id.clone())
    }

    /// Computes the target assignment of the current epoch.
    fn assign(&mut self, catalog: &TopicCatalog) {
        // The assignor most members ask for (ties: the first served), as Kafka picks it.
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m.assignor.as_deref() {
                *votes.entry(a).or_default() += 1;
            }
        }
        let assignor = ASSIGNORS
            .iter()
            .max_by_key(|a| {
                (
                    votes.get(*a).copied().unwrap_or(0),
                    std::cmp::Reverse(ASSIGNORS.iter().position(|x| x == *a)),
                )
            })
            .copied()
            .unwrap_or(ASSIGNORS[0]);
        self.assignor = assignor.to_string();
        let partitions: Vec<Tp> = self
            .subscribed_topics(catalog)
            .into_iter()
            .flat_map(|t| {
                let n = catalog.get(&t).map_or(0, |(_, n)| *n);
                (0..n).map(move |p| (t.clone(), p))
            })
            .collect();
        let eligible = |tp: &Tp| -> Vec<String> {
            self.members
                .iter()
                .filter(|(_, m)| m.subscribes_to(&tp.0))
                .map(|(id, _)| id.clone())
                .collect()
        };
        let mut target: BTreeMap<String, Parts> = self
            .members
            .keys()
            .map(|id| (id.clone(), Parts::new()))
            .collect();
        if assignor == "range" {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in &partitions {
                by_topic.entry(t.as_str()).or_default().push(*p);
            }
            for (topic, ps) in by_topic {
                let members = eligible(&(topic.to_string(), 0));
                if members.is_empty() {
                    continue;
                }
                let per = ps.len() / members.len();
                let extra = ps.len() % members.len();
                let mut next = 0;
                for (i, id) in members.iter().enumerate() {
                    let n = per + usize::from(i < extra);
                    for p in &ps[next..next + n] {
                        if let Some(set) = target.get_mut(id) {
                            set.insert((topic.to_string(), *p));
                        }
                    }
                    next += n;
                }
            }
        } else {
            // uniform: keep each partition with its current owner where it may stay, hand the
            // others to the least loaded eligible member, then move partitions from the most to
            // the least loaded until no eligible member has two fewer than another.
            let current = |tp: &Tp| -> Option<String> {
                self.members
                    .iter()
                    .find(|(id, m)| {
                        m.assigned.contains(tp)
                            || self.target.get(*id).is_some_and(|t| t.contains(tp))
                    })
                    .map(|(id, _)| id.clone())
            };
            let mut pending = Vec::new();
            let mut choices: BTreeMap<Tp, Vec<String>> = BTreeMap::new();
            for tp in &partitions {
                let members = eligible(tp);
                match current(tp) {
                    Some(owner) if members.contains(&owner) => {
                        if let Some(set) = target.get_mut(&owner) {
                            set.insert(tp.clone());
                        }
                    }
                    _ => pending.push(tp.clone()),
                }
                choices.insert(tp.clone(), members);
            }
            for tp in pending {
                let least = choices[&tp]
                    .iter()
                    .min_by_key(|id| (target.get(*id).map_or(0, |s| s.len()), (*id).clone()))
                    .cloned();
                if let Some(id) = least
                    && let Some(set) = target.get_mut(&id)
                {
                    set.insert(tp);
                }
            }
            // Balance. Each move shrinks the sum of squared loads, so this ends.
            loop {
                let mut moved = false;
                let owners: Vec<(String, Parts)> =
                    target.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                'outer: for (owner, parts) in owners.iter().rev() {
                    for tp in parts.iter().rev() {
                        let load = parts.len();
                        let best = choices[tp]
                            .iter()
                            .filter(|id| *id != owner)
                            .min_by_key(|id| target.get(*id).map_or(0, |s| s.len()))
                            .cloned();
                        if let Some(to) = best
                            && target.get(&to).map_or(0, |s| s.len()) + 1 < load
                        {
                            if let Some(s) = target.get_mut(owner) {
                                s.remove(tp);
                            }
                            if let Some(s) = target.get_mut(&to) {
                                s.insert(tp.clone());
                            }
                            moved = true;
                            break 'outer;
                        }
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        self.target = target;
        self.assignment_epoch = self.epoch;
    }

    /// Moves one member a step towards its target (see the module docs).
    fn reconcile(&mut self, id: &str, owned: Option<&Parts>, now: Instant) {
        let target = self.target.get(id).cloned().unwrap_or_default();
        let held_by_others: Parts = self
            .members
            .iter()
            .filter(|(other, _)| other.as_str() != id)
            .flat_map(|(_, m)| m.assigned.iter().chain(m.revoking.iter()).cloned())
            .collect();
        let assignment_epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        if !m.revoking.is_empty() {
            match owned {
                Some(o) if o.is_disjoint(&m.revoking) => {
                    m.revoking.clear();
                    m.revoking_since = None;
                }
                _ => return,
            }
        }
        let revoke: Parts = m.assigned.difference(&target).cloned().collect();
        if !revoke.is_empty() {
            m.assigned.retain(|tp| !revoke.contains(tp));
            m.revoking = revoke;
            m.revoking_since = Some(now);
            return;
        }
        if m.epoch != assignment_epoch {
            m.previous_epoch = m.epoch;
            m.epoch = assignment_epoch;
        }
        for tp in target {
            if !held_by_others.contains(&tp) {
                m.assigned.insert(tp);
            }
        }
    }

    /// The group as ConsumerGroupDescribe shows it: epochs, assignor, and each member's
    /// subscription, current assignment and target.
    pub(crate) fn description(&self) -> ConsumerGroupDescription {
        ConsumerGroupDescription {
            state: self.state(),
            group_epoch: self.epoch,
            assignment_epoch: self.assignment_epoch,
            assignor: self.assignor.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| MemberDescription {
                    member_id: id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed.clone(),
                    // As the member sent it, without the anchors added to match whole names.
                    subscribed_topic_regex: m.regex.as_ref().map(|r| {
                        let full = r.as_str();
                        full.strip_prefix("^(?:")
                            .and_then(|x| x.strip_suffix(")$"))
                            .unwrap_or(full)
                            .to_string()
                    }),
                    assignment: m.assigned.clone(),
                    target_assignment: self.target.get(id).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Each member as a classic group member: `(id, instance, client, host, subscription,
    /// assignment)`, the subscription and assignment in the classic consumer protocol encoding,
    /// so that DescribeGroups and the tools built on it show consumer groups too.
    pub(crate) fn classic_view(
        &self,
    ) -> Vec<(String, Option<String>, String, String, Bytes, Bytes)> {
        self.members
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    m.instance_id.clone(),
                    m.client_id.clone(),
                    m.client_host.clone(),
                    encode_subscription(&m.subscribed),
                    encode_assignment(&m.assigned),
                )
            })
            .collect()
    }
}

/// A new member id: 22 characters of URL-safe base64 over a random UUID, like Kafka's.
pub(crate) fn new_member_id() -> String {
    let id = uuid::Uuid::new_v4();
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len().min(i16::MAX as usize) as i16);
    buf.put_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
}

/// ConsumerProtocolSubscription v0: the topics, no user data.
fn encode_subscription(topics: &[String]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    buf.put_i32(topics.len() as i32);
    for t in topics {
        put_string(&mut buf, t);
    }
    buf.put_i32(-1);
    buf.freeze()
}

/// ConsumerProtocolAssignment v0: the partitions by topic, no user data.
fn encode_assignment(parts: &Parts) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        by_topic.entry(t.as_str()).or_default().push(*p);
    }
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    buf.put_i32(by_topic.len() as i32);
    for (t, ps) in by_topic {
        put_string(&mut buf, t);
        buf.put_i32(ps.len() as i32);
        for p in ps {
            buf.put_i32(p);
        }
    }
    buf.put_i32(-1);
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(topics: &[(&str, i32)]) -> TopicCatalog {
        topics
            .iter()
            .map(|(t, n)| (t.to_string(), (uuid::Uuid::new_v4(), *n)))
            .collect()
    }

    fn join(id: &str, topics: &[&str]) -> Heartbeat {
        Heartbeat {
            member_id: id.to_string(),
            member_epoch: 0,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
            subscribed_topic_regex: None,
            server_assignor: None,
            owned: Some(Parts::new()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn beat(id: &str, epoch: i32, owned: Option<&Parts>) -> Heartbeat {
        Heartbeat {
            member_epoch: epoch,
            subscribed_topic_names: None,
            rebalance_timeout_ms: -1,
            owned: owned.cloned(),
            ..join(id, &[])
        }
    }

    /// Runs heartbeats of every member, each acknowledging what it was told, until nothing
    /// changes; returns each member's assignment.
    fn settle(
        g: &mut ConsumerGroup,
        cat: &TopicCatalog,
        owned: &mut BTreeMap<String, (i32, Parts)>,
    ) {
        for _ in 0..20 {
            let ids: Vec<String> = owned.keys().cloned().collect();
            for id in ids {
                let (epoch, parts) = owned[&id].clone();
                let out = g.heartbeat("g", beat(&id, epoch, Some(&parts)), cat, Instant::now());
                assert_eq!(out.error, 0, "{:?}", out.message);
                let parts = out.assignment.unwrap_or(parts);
                owned.insert(id, (out.member_epoch, parts));
            }
            // No partition is ever owned twice.
            let mut all = Parts::new();
            for (_, p) in owned.values() {
                for tp in p {
                    assert!(all.insert(tp.clone()), "{tp:?} owned twice");
                }
            }
        }
    }

    #[test]
    fn members_share_partitions_evenly_and_never_own_one_twice() {
        let cat = catalog(&[("t", 6)]);
        let mut g = ConsumerGroup::default();
        let mut owned = BTreeMap::new();
        let out = g.heartbeat("g", join("a", &["t"]), &cat, Instant::now());
        assert_eq!(out.error, 0);
        owned.insert(
            "a".to_string(),
            (
                out.member_epoch,
                out.assignment
                    .expect("a joining member is told its assignment"),
            ),
        );
        assert_eq!(owned["a"].1.len(), 6);
        for id in ["b", "c"] {
            let out = g.heartbeat("g", join(id, &["t"]), &cat, Instant::now());
            assert_eq!(out.error, 0);
            owned.insert(
                id.to_string(),
                (
                    out.member_epoch,
                    out.assignment
                        .expect("a joining member is told its assignment"),
                ),
            );
            settle(&mut g, &cat, &mut owned);
        }
        for (_, p) in owned.values() {
            assert_eq!(p.len(), 2);
        }
        assert_eq!(g.state(), GroupState::Stable);
        let epochs: BTreeSet<i32> = owned.values().map(|(e, _)| *e).collect();
        assert_eq!(epochs.len(), 1);
        // One leaves: the others take its partitions.
        let out = g.heartbeat(
            "g",
            beat("b", owned["b"].0, None).with_epoch(-1),
            &cat,
            Instant::now(),
        );
        assert_eq!(out.error, 0);
        assert_eq!(out.member_epoch, -1);
        owned.remove("b");
        settle(&mut g, &cat, &mut owned);
        assert_eq!(owned.values().map(|(_, p)| p.len()).sum::<usize>(), 6);
        assert_eq!(g.state(), GroupState::Stable);
    }

    #[test]
    fn a_wrong_epoch_is_fenced_and_an_unknown_member_refused() {
        let cat = catalog(&[("t", 2)]);
        let mut g = ConsumerGroup::default();
        let out = g.heartbeat("g", join("a", &["t"]), &cat, Instant::now());
        let e = out.member_epoch;
        let bad = g.heartbeat("g", beat("a", e + 5, None), &cat, Instant::now());
        assert_eq!(bad.error, ResponseError::FencedMemberEpoch.code());
        let unknown = g.heartbeat("g", beat("zz", 3, None), &cat, Instant::now());
        assert_eq!(unknown.error, ResponseError::UnknownMemberId.code());
        assert_eq!(g.check_commit("a", e), Ok(()));
        assert_eq!(
            g.check_commit("a", e - 1),
            Err(ResponseError::StaleMemberEpoch)
        );
    }

    #[test]
    fn range_and_new_partitions_and_regex() {
        let mut cat = catalog(&[("t", 4), ("u", 2)]);
        let mut g = ConsumerGroup::default();
        let mut owned = BTreeMap::new();
        for id in ["a", "b"] {
            let mut hb = join(id, &["t"]);
            hb.server_assignor = Some("range".into());
            let out = g.heartbeat("g", hb, &cat, Instant::now());
            owned.insert(
                id.to_string(),
                (out.member_epoch, out.assignment.unwrap_or_default()),
            );
            settle(&mut g, &cat, &mut owned);
        }
        assert_eq!(g.assignor, "range");
        let a: Vec<i32> = owned["a"].1.iter().map(|(_, p)| *p).collect();
        assert_eq!(a, vec![0, 1]);
        // The topic grows: the new partitions are assigned.
        cat.get_mut("t").expect("topic t").1 = 6;
        settle(&mut g, &cat, &mut owned);
        assert_eq!(owned.values().map(|(_, p)| p.len()).sum::<usize>(), 6);
        // A regex subscription picks up matching topics.
        let mut hb = join("c", &[]);
        hb.subscribed_topic_names = None;
        hb.subscribed_topic_regex = Some("u.*".into());
        let out = g.heartbeat("g", hb, &cat, Instant::now());
        owned.insert(
            "c".into(),
            (out.member_epoch, out.assignment.unwrap_or_default()),
        );
        settle(&mut g, &cat, &mut owned);
        assert!(owned["c"].1.iter().all(|(t, _)| t == "u"));
        assert_eq!(owned["c"].1.len(), 2);
        let mut bad = join("d", &[]);
        bad.subscribed_topic_regex = Some("(".into());
        assert_eq!(
            g.heartbeat("g", bad, &cat, Instant::now()).error,
            ResponseError::InvalidRegularExpression.code()
        );
    }

    #[test]
    fn a_static_member_coming_back_takes_its_partitions_without_a_rebalance() {
        let cat = catalog(&[("t", 4)]);
        let mut g = ConsumerGroup::default();
        let mut owned = BTreeMap::new();
        for (id, inst) in [("a", "ia"), ("b", "ib")] {
            let mut hb = join(id, &["t"]);
            hb.instance_id = Some(inst.into());
            let out = g.heartbeat("g", hb, &cat, Instant::now());
            owned.insert(
                id.to_string(),
                (out.member_epoch, out.assignment.unwrap_or_default()),
            );
            settle(&mut g, &cat, &mut owned);
        }
        let b_parts = owned["b"].1.clone();
        let epoch = g.epoch();
        let mut leave = beat("b", owned["b"].0, None).with_epoch(-2);
        leave.instance_id = Some("ib".into());
        assert_eq!(
            g.heartbeat("g", leave, &cat, Instant::now()).member_epoch,
            -2
        );
        owned.remove("b");
        // The same instance under a new member id: b's partitions, same group epoch.
        let mut back = join("b2", &["t"]);
        back.instance_id = Some("ib".into());
        let out = g.heartbeat("g", back, &cat, Instant::now());
        assert_eq!(out.error, 0);
        assert_eq!(out.assignment, Some(b_parts));
        assert_eq!(g.epoch(), epoch, "no new epoch, no rebalance");
    }

    #[test]
    fn member_ids_look_like_kafkas() {
        let id = new_member_id();
        assert_eq!(id.len(), 22);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    impl Heartbeat {
        fn with_epoch(mut self, e: i32) -> Heartbeat {
            self.member_epoch = e;
            self
        }
    }
}
