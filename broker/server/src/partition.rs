use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weir_metadata::PartitionAssignment;

use weir_storage::{AppendInfo, Log, LogConfig};

use crate::config::BrokerConfig;
use weir_metadata::topic_config as tc;

/// A partition this broker hosts, as leader or follower: its log and its replication state.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub log: Log,
    replica: Mutex<ReplicaState>,
}

pub type PartitionRef = Arc<Partition>;

/// Leadership as the metadata last said, and on the leader, what it knows of each follower.
struct ReplicaState {
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// The log end offset when this broker became leader: a follower must reach it (and the
    /// high watermark) before it may join the ISR.
    epoch_start: i64,
    followers: HashMap<i32, Follower>,
    /// An ISR change was proposed under this epoch and has not shown up in metadata yet.
    isr_change_pending: Option<Instant>,
    /// Followers that a proposed ISR change adds and that metadata does not list in the ISR
    /// yet. The high watermark already waits for them (Kafka's maximal ISR): once the change is
    /// applied the controller may make one of them leader (a reassignment completing, a
    /// failover), and it must hold every record this leader acknowledged.
    joining: Vec<i32>,
    /// Set when the proposal adding `joining` returned: if metadata has not listed them by
    /// then (the controller refused), the high watermark stops waiting for them.
    joining_until: Option<Instant>,
}

/// The leader's view of one follower, from its fetches (Kafka's replica state).
#[derive(Clone, Copy)]
struct Follower {
    /// The follower's log end offset: the offset it last fetched from (-1: no fetch yet).
    leo: i64,
    /// When the follower last had everything the leader had.
    caught_up: Instant,
    /// The leader's log end at the follower's previous fetch, and when that was.
    prev_fetch_leo: i64,
    prev_fetch_at: Instant,
}

/// How a metadata change moved this broker's role for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleChange {
    None,
    BecameLeader,
    /// Follower of a (possibly) new leader or epoch: the fetcher starts over for it.
    Follower,
    /// The partition has no leader (offline).
    NoLeader,
}

/// An ISR change the leader should propose: the new ISR under its epoch.
pub(crate) struct IsrChange {
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
}

/// How long an ISR proposal may stay unanswered before it is proposed again.
const ISR_CHANGE_RETRY: Duration = Duration::from_secs(5);
/// How long after an ISR expansion was answered the high watermark still waits for the
/// joining followers: long enough for an accepted change to reach this broker's partitions
/// (reconciled every 100 ms), short enough that a refused one stalls acks=all only briefly.
const JOINING_GRACE: Duration = Duration::from_secs(1);

impl Partition {
    pub(crate) fn new(topic: String, index: i32, log: Log, a: &PartitionAssignment) -> Partition {
        let now = Instant::now();
        let epoch_start = log.log_end_offset();
        let followers = a
            .replicas
            .iter()
            .map(|&r| (r, Follower::new(now)))
            .collect();
        Partition {
            topic,
            index,
            log,
            replica: Mutex::new(ReplicaState {
                leader: a.leader,
                leader_epoch: a.leader_epoch,
                replicas: a.replicas.clone(),
                isr: a.isr.clone(),
                epoch_start,
                followers,
                isr_change_pending: None,
                joining: Vec::new(),
                joining_until: None,
            }),
        }
    }

    /// The leader epoch this broker knows for the partition.
    pub fn leader_epoch(&self) -> i32 {
        self.replica.lock().leader_epoch
    }

    pub fn leader(&self) -> i32 {
        self.replica.lock().leader
    }

    pub fn is_leader(&self, me: i32) -> bool {
        self.replica.lock().leader == me
    }

    pub fn replica_count(&self) -> usize {
        self.replica.lock().replicas.len()
    }

    pub fn isr(&self) -> Vec<i32> {
        self.replica.lock().isr.clone()
    }

    /// Takes leadership, replicas and ISR from metadata. A broker that becomes leader records
    /// the new epoch's start in its log and gives every follower a full lag window.
    pub(crate) fn apply_assignment(&self, me: i32, a: &PartitionAssignment) -> RoleChange {
        let mut st = self.replica.lock();
        let changed_epoch = a.leader_epoch != st.leader_epoch || a.leader != st.leader;
        st.replicas.clone_from(&a.replicas);
        if st.isr != a.isr {
            st.isr.clone_from(&a.isr);
            st.isr_change_pending = None;
            st.joining.retain(|r| !a.isr.contains(r));
        }
        if !changed_epoch {
            return RoleChange::None;
        }
        st.leader = a.leader;
        st.leader_epoch = a.leader_epoch;
        st.isr_change_pending = None;
        st.joining.clear();
        if a.leader == me {
            if let Err(e) = self.log.start_epoch(a.leader_epoch) {
                tracing::error!(topic = %self.topic, partition = self.index, error = %e, "could not record the new leader epoch");
            }
            st.epoch_start = self.log.log_end_offset();
            let now = Instant::now();
            st.followers = a
                .replicas
                .iter()
                .map(|&r| (r, Follower::new(now)))
                .collect();
            tracing::info!(topic = %self.topic, partition = self.index, epoch = a.leader_epoch, "became leader");
            RoleChange::BecameLeader
        } else if a.leader < 0 {
            RoleChange::NoLeader
        } else {
            RoleChange::Follower
        }
    }

    /// The leader epoch, when `me` leads the partition (else NOT_LEADER_OR_FOLLOWER).
    fn epoch_as_leader(&self, me: i32) -> crate::Result<i32> {
        let st = self.replica.lock();
        if st.leader != me {
            return Err(crate::Error::NotLeader {
                topic: self.topic.clone(),
                partition: self.index,
            });
        }
        Ok(st.leader_epoch)
    }

    /// Appends records written by the broker itself (dead letters, routed records, pipeline
    /// output) as leader, and moves the high watermark. Refused on a follower: its log only
    /// takes what the leader replicates.
    pub(crate) fn append_as_leader(&self, me: i32, records: &[u8]) -> crate::Result<AppendInfo> {
        let epoch = self.epoch_as_leader(me)?;
        let info = self.log.append(records, epoch, crate::broker::now_ms())?;
        self.advance_high_watermark(me);
        Ok(info)
    }

    /// Writes a transaction marker (COMMIT or ABORT for `producer_id`) as the leader; returns
    /// `(the log end after it, the leader epoch it was written under)`.
    pub(crate) fn append_marker_as_leader(
        &self,
        me: i32,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> crate::Result<(i64, i32)> {
        let epoch = self.epoch_as_leader(me)?;
        let offset = self.log.append_control(
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            epoch,
            crate::broker::now_ms(),
        )?;
        self.advance_high_watermark(me);
        Ok((offset + 1, epoch))
    }

    /// On the leader: a follower fetched from `fetch_offset` (its log end).
    pub(crate) fn follower_fetched(&self, follower: i32, fetch_offset: i64) {
        let leo = self.log.log_end_offset();
        let now = Instant::now();
        let mut st = self.replica.lock();
        let f = st
            .followers
            .entry(follower)
            .or_insert_with(|| Follower::new(now));
        f.leo = fetch_offset;
        if fetch_offset >= leo {
            f.caught_up = now;
        } else if fetch_offset >= f.prev_fetch_leo {
            f.caught_up = f.caught_up.max(f.prev_fetch_at);
        }
        f.prev_fetch_leo = leo;
        f.prev_fetch_at = now;
    }

    /// On the leader: moves the high watermark to the lowest log end of the ISR and of the
    /// followers joining it. Returns whether it moved.
    pub(crate) fn advance_high_watermark(&self, me: i32) -> bool {
        let st = self.replica.lock();
        if st.leader != me {
            return false;
        }
        let mut hw = self.log.log_end_offset();
        let joining = match st.joining_until {
            Some(t) if t <= Instant::now() => &[][..],
            _ => &st.joining[..],
        };
        for r in st.isr.iter().chain(joining).filter(|&&r| r != me) {
            hw = hw.min(st.followers.get(r).map_or(-1, |f| f.leo));
        }
        drop(st);
        let before = self.log.high_watermark();
        self.log.set_high_watermark(hw);
        self.log.high_watermark() != before
    }

    /// On the leader: how many replicas are in sync right now: the ISR members that are
    /// this broker or caught up within `lag_max`. Fewer than `min.insync.replicas` refuses
    /// acks=all, even while the controller cannot be reached to shrink the ISR.
    pub(crate) fn in_sync_count(&self, me: i32, lag_max: Duration) -> usize {
        let st = self.replica.lock();
        st.isr
            .iter()
            .filter(|&&r| st.in_sync_now(r, me, lag_max))
            .count()
    }

    /// On the leader: the ISR change due now, if any: followers that have not caught up for
    /// `lag_max` leave; followers that reached the high watermark (and this epoch's start)
    /// join.
    pub(crate) fn isr_change(&self, me: i32, lag_max: Duration) -> Option<IsrChange> {
        let mut st = self.replica.lock();
        if st.leader != me
            || st
                .isr_change_pending
                .is_some_and(|t| t.elapsed() < ISR_CHANGE_RETRY)
        {
            return None;
        }
        let hw = self.log.high_watermark();
        let mut isr: Vec<i32> = st
            .isr
            .iter()
            .copied()
            .filter(|&r| st.in_sync_now(r, me, lag_max))
            .collect();
        for &r in &st.replicas {
            if r == me || isr.contains(&r) {
                continue;
            }
            if let Some(f) = st.followers.get(&r)
                && f.leo >= hw
                && f.leo >= st.epoch_start
                && f.caught_up.elapsed() <= lag_max
            {
                isr.push(r);
            }
        }
        isr.sort_unstable_by_key(|r| st.replicas.iter().position(|x| x == r));
        let mut current = st.isr.clone();
        current.sort_unstable_by_key(|r| st.replicas.iter().position(|x| x == r));
        if isr == current {
            // No proposal is in flight (this point is not reached while one is).
            st.joining.clear();
            return None;
        }
        // In flight until `isr_change_finished`; the metadata change clears it when applied.
        st.isr_change_pending = Some(Instant::now() + Duration::from_secs(24 * 3600));
        st.joining = isr
            .iter()
            .copied()
            .filter(|r| !current.contains(r))
            .collect();
        st.joining_until = None;
        Some(IsrChange {
            leader_epoch: st.leader_epoch,
            isr,
        })
    }
}

impl Partition {
    /// The proposal of an ISR change returned: another may follow after `ISR_CHANGE_RETRY`
    /// (sooner once the applied change shows up in metadata).
    pub(crate) fn isr_change_finished(&self) {
        let mut st = self.replica.lock();
        if st.isr_change_pending.is_some() {
            st.isr_change_pending = Some(Instant::now());
        }
        st.joining_until = Some(Instant::now() + JOINING_GRACE);
    }
}

impl ReplicaState {
    /// Whether replica `r` has everything now: this broker (the leader), or a follower that
    /// caught up within `lag_max`.
    fn in_sync_now(&self, r: i32, me: i32, lag_max: Duration) -> bool {
        r == me
            || self
                .followers
                .get(&r)
                .is_some_and(|f| f.caught_up.elapsed() <= lag_max)
    }
}

impl Follower {
    fn new(now: Instant) -> Follower {
        Follower {
            leo: -1,
            caught_up: now,
            prev_fetch_leo: i64::MAX,
            prev_fetch_at: now,
        }
    }
}

/// The effective configs of a topic: each known config's value and whether the topic sets it.
pub(crate) fn effective_configs(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<&'static str, (String, bool)> {
    tc::TOPIC_CONFIGS
        .iter()
        .map(|d| match overrides.get(d.name) {
            Some(v) => (d.name, (v.clone(), true)),
            None => (
                d.name,
                (broker.topic_default(d.name).unwrap_or_default(), false),
            ),
        })
        .collect()
}

/// Whether a `cleanup.policy` value (a list such as `compact,delete`) names `policy`.
fn policy_includes(value: &str, policy: &str) -> bool {
    value.split(',').any(|p| p.trim() == policy)
}

/// Whether the topic's `cleanup.policy` includes `delete` (DeleteRecords is refused otherwise,
/// as Kafka refuses it on a compact-only topic).
pub(crate) fn allows_record_deletion(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> bool {
    effective_configs(broker, overrides)
        .get(tc::CLEANUP_POLICY)
        .is_none_or(|(v, _)| policy_includes(v, "delete"))
}

/// The log settings of topic `t`. The coordinator partition (`__consumer_offsets-0` in a
/// cluster) compacts itself its own way (`OffsetStore::compact_replicated`), so a broker default
/// of `cleanup.policy=compact` does not reach it.
pub(crate) fn topic_log_config(broker: &BrokerConfig, t: &weir_metadata::TopicMeta) -> LogConfig {
    let mut cfg = log_config(broker, &t.configs);
    if t.name == weir_metadata::OFFSETS_TOPIC {
        cfg.compact = false;
    }
    cfg
}

pub(crate) fn log_config(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let eff = effective_configs(broker, overrides);
    let num = |k: &str, fallback: i64| -> i64 {
        eff.get(k)
            .and_then(|(v, _)| v.trim().parse().ok())
            .unwrap_or(fallback)
    };
    let d = LogConfig::default();
    let cleanup = eff
        .get(tc::CLEANUP_POLICY)
        .map(|(v, _)| v.as_str())
        .unwrap_or("delete");
    LogConfig {
        segment_bytes: num(tc::SEGMENT_BYTES, d.segment_bytes as i64).max(14) as u64,
        segment_ms: num(tc::SEGMENT_MS, d.segment_ms),
        // A compact-only topic loses records to compaction, never to age or size.
        retention_ms: if policy_includes(cleanup, "delete") {
            num(tc::RETENTION_MS, d.retention_ms)
        } else {
            -1
        },
        retention_bytes: if policy_includes(cleanup, "delete") {
            num(tc::RETENTION_BYTES, d.retention_bytes)
        } else {
            -1
        },
        max_message_bytes: num(tc::MAX_MESSAGE_BYTES, d.max_message_bytes as i64).max(0) as usize,
        index_interval_bytes: num(tc::INDEX_INTERVAL_BYTES, d.index_interval_bytes as i64).max(0)
            as u64,
        flush_messages: num(tc::FLUSH_MESSAGES, i64::MAX).max(1) as u64,
        flush_ms: num(tc::FLUSH_MS, i64::MAX),
        log_append_time: eff
            .get(tc::MESSAGE_TIMESTAMP_TYPE)
            .is_some_and(|(v, _)| v == "LogAppendTime"),
        timestamp_after_max_ms: num(tc::TIMESTAMP_AFTER_MAX_MS, i64::MAX).max(0),
        timestamp_before_max_ms: num(tc::TIMESTAMP_BEFORE_MAX_MS, i64::MAX).max(0),
        compact: policy_includes(cleanup, "compact"),
        min_cleanable_dirty_ratio: eff
            .get(tc::MIN_CLEANABLE_DIRTY_RATIO)
            .and_then(|(v, _)| v.trim().parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(d.min_cleanable_dirty_ratio),
        delete_retention_ms: num(tc::DELETE_RETENTION_MS, d.delete_retention_ms).max(0),
        min_compaction_lag_ms: num(tc::MIN_COMPACTION_LAG_MS, d.min_compaction_lag_ms).max(0),
        max_compaction_lag_ms: num(tc::MAX_COMPACTION_LAG_MS, d.max_compaction_lag_ms).max(1),
    }
}
