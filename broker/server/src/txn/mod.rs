//! The transaction coordinator. Each transactional id maps to a producer id and epoch and, while
//! a transaction is open, the partitions and groups it touched and the offsets it will commit.
//! State is durable in `<data>/__transaction_state-0` (a [`KvLog`]). Ending a transaction writes
//! a COMMIT or ABORT marker (a control batch) to every partition in it, then applies its offsets;
//! a transaction older than its timeout is aborted and its producer fenced (epoch bumped).
//!
//! On a single node the markers are written synchronously, so the PrepareCommit/PrepareAbort
//! states of Kafka's coordinator are never observable; the cluster issue adds them with
//! broker-to-broker markers.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use weir_protocol::kafka::ResponseError;

use crate::Result;
use crate::broker::{Broker, now_ms};
use crate::group::{CommitResult, Committed};

/// Offsets to commit for one group, by topic and partition.
type PartitionOffsets = Vec<((String, i32), Committed)>;
use crate::kvlog::KvLog;

const STATE_LOG: &str = "__transaction_state";
/// Kafka's `transaction.max.timeout.ms`.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TxnState {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TxnMeta {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) timeout_ms: i64,
    pub(crate) state: TxnState,
    pub(crate) partitions: BTreeSet<(String, i32)>,
    pub(crate) groups: BTreeSet<String>,
    /// `(group, topic, partition, offset)` committed when the transaction commits.
    pub(crate) pending_offsets: Vec<(String, String, i32, Committed)>,
    pub(crate) started_ms: i64,
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

pub(crate) struct TxnCoordinator {
    txns: Mutex<HashMap<String, TxnMeta>>,
    store: KvLog,
}

impl TxnCoordinator {
    pub(crate) fn open(data_dir: &Path, clean: bool) -> Result<TxnCoordinator> {
        let (store, entries) = KvLog::open::<String, TxnMeta>(data_dir, STATE_LOG, clean)?;
        let mut txns = HashMap::new();
        for (id, meta) in entries {
            match meta {
                Some(m) => txns.insert(id, m),
                None => txns.remove(&id),
            };
        }
        Ok(TxnCoordinator {
            txns: Mutex::new(txns),
            store,
        })
    }

    fn persist(&self, id: &str, meta: &TxnMeta) -> Result<(), i16> {
        self.store.append(&[(id, Some(meta))]).map_err(|e| {
            tracing::error!(transactional_id = id, error = %e, "persisting transaction state failed");
            e.kafka_code()
        })
    }

    fn check<'a>(
        txns: &'a mut HashMap<String, TxnMeta>,
        id: &str,
        pid: i64,
        epoch: i16,
    ) -> Result<&'a mut TxnMeta, i16> {
        let meta = txns
            .get_mut(id)
            .ok_or(code(ResponseError::InvalidProducerIdMapping))?;
        if meta.producer_id != pid {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        }
        if meta.epoch != epoch {
            return Err(code(ResponseError::InvalidProducerEpoch));
        }
        Ok(meta)
    }

    /// Writes the markers of `meta`'s open transaction and, on commit, applies its offsets.
    fn complete(broker: &Broker, meta: &mut TxnMeta, commit: bool) -> Result<(), i16> {
        let now = now_ms();
        for (topic, partition) in &meta.partitions {
            let Some(p) = broker.partition(topic, *partition) else {
                continue;
            };
            let me = broker.config.node_id;
            if !p.is_leader(me) {
                return Err(ResponseError::NotLeaderOrFollower.code());
            }
            p.log
                .append_control(
                    meta.producer_id,
                    meta.epoch,
                    commit,
                    0,
                    p.leader_epoch(),
                    now,
                )
                .map_err(|e| e.kafka_code())?;
            p.advance_high_watermark(me);
        }
        if commit {
            let mut by_group: HashMap<&str, PartitionOffsets> = HashMap::new();
            for (g, t, p, c) in &meta.pending_offsets {
                by_group
                    .entry(g)
                    .or_default()
                    .push(((t.clone(), *p), c.clone()));
            }
            for (g, offsets) in by_group {
                broker.groups.commit_transactional(g, offsets)?;
            }
        }
        meta.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        meta.partitions.clear();
        meta.groups.clear();
        meta.pending_offsets.clear();
        broker.notify_append();
        Ok(())
    }

    /// InitProducerId for a transactional id: aborts an open transaction, fences the previous
    /// producer instance by bumping the epoch, and returns `(producer id, epoch)`.
    pub(crate) fn init_producer(
        &self,
        broker: &Broker,
        id: &str,
        timeout_ms: i32,
    ) -> Result<(i64, i16), i16> {
        if id.is_empty() {
            return Err(code(ResponseError::InvalidRequest));
        }
        if timeout_ms <= 0 || timeout_ms as u128 > MAX_TIMEOUT.as_millis() {
            return Err(code(ResponseError::InvalidTransactionTimeout));
        }
        let mut txns = self.txns.lock();
        let meta = match txns.get_mut(id) {
            Some(meta) => {
                if meta.epoch >= i16::MAX - 1 {
                    meta.producer_id = broker.allocate_producer_id().map_err(|e| e.kafka_code())?;
                    meta.epoch = 0;
                } else {
                    meta.epoch += 1;
                }
                if meta.state == TxnState::Ongoing {
                    Self::complete(broker, meta, false)?;
                }
                meta.state = TxnState::Empty;
                meta.timeout_ms = i64::from(timeout_ms);
                meta.clone()
            }
            None => {
                let meta = TxnMeta {
                    producer_id: broker.allocate_producer_id().map_err(|e| e.kafka_code())?,
                    epoch: 0,
                    timeout_ms: i64::from(timeout_ms),
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    pending_offsets: Vec::new(),
                    started_ms: -1,
                };
                txns.insert(id.to_string(), meta.clone());
                meta
            }
        };
        self.persist(id, &meta)?;
        Ok((meta.producer_id, meta.epoch))
    }

    fn begin(meta: &mut TxnMeta) {
        if meta.state != TxnState::Ongoing {
            meta.state = TxnState::Ongoing;
            meta.started_ms = now_ms();
        }
    }

    pub(crate) fn add_partitions(
        &self,
        broker: &Broker,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<CommitResult, i16> {
        let mut txns = self.txns.lock();
        let meta = Self::check(&mut txns, id, pid, epoch)?;
        let unknown: Vec<&(String, i32)> = partitions
            .iter()
            .filter(|(t, p)| broker.partition(t, *p).is_none())
            .collect();
        if !unknown.is_empty() {
            // Kafka refuses the whole request: unknown ones get their code, the rest OPERATION_NOT_ATTEMPTED.
            return Ok(partitions
                .iter()
                .map(|tp| {
                    let c = if unknown.contains(&tp) {
                        code(ResponseError::UnknownTopicOrPartition)
                    } else {
                        code(ResponseError::OperationNotAttempted)
                    };
                    (tp.clone(), c)
                })
                .collect());
        }
        Self::begin(meta);
        meta.partitions.extend(partitions.iter().cloned());
        let snapshot = meta.clone();
        self.persist(id, &snapshot)?;
        Ok(partitions.iter().map(|tp| (tp.clone(), 0)).collect())
    }

    pub(crate) fn add_offsets(&self, id: &str, pid: i64, epoch: i16, group: &str) -> i16 {
        let mut txns = self.txns.lock();
        let meta = match Self::check(&mut txns, id, pid, epoch) {
            Ok(m) => m,
            Err(c) => return c,
        };
        Self::begin(meta);
        meta.groups.insert(group.to_string());
        let snapshot = meta.clone();
        self.persist(id, &snapshot).err().unwrap_or(0)
    }

    pub(crate) fn txn_offset_commit(
        &self,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<((String, i32), Committed)>,
    ) -> i16 {
        let mut txns = self.txns.lock();
        let meta = match Self::check(&mut txns, id, pid, epoch) {
            Ok(m) => m,
            Err(c) => return c,
        };
        if meta.state != TxnState::Ongoing || !meta.groups.contains(group) {
            return code(ResponseError::InvalidTxnState);
        }
        for ((t, p), c) in offsets {
            meta.pending_offsets
                .retain(|(g, pt, pp, _)| !(g == group && *pt == t && *pp == p));
            meta.pending_offsets.push((group.to_string(), t, p, c));
        }
        let snapshot = meta.clone();
        self.persist(id, &snapshot).err().unwrap_or(0)
    }

    pub(crate) fn end_txn(
        &self,
        broker: &Broker,
        id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
    ) -> i16 {
        let mut txns = self.txns.lock();
        let meta = match Self::check(&mut txns, id, pid, epoch) {
            Ok(m) => m,
            Err(c) => return c,
        };
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => {}
            // A retried EndTxn after it completed is answered the same way.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return 0,
            _ => return code(ResponseError::InvalidTxnState),
        }
        if let Err(c) = Self::complete(broker, meta, commit) {
            return c;
        }
        let snapshot = meta.clone();
        self.persist(id, &snapshot).err().unwrap_or(0)
    }

    /// Aborts transactions open longer than their timeout and fences their producer.
    pub(crate) fn tick(&self, broker: &Broker) {
        let now = now_ms();
        let mut txns = self.txns.lock();
        let expired: Vec<String> = txns
            .iter()
            .filter(|(_, m)| m.state == TxnState::Ongoing && now - m.started_ms > m.timeout_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let Some(meta) = txns.get_mut(&id) else {
                continue;
            };
            tracing::warn!(transactional_id = %id, "transaction timed out: aborting and fencing its producer");
            meta.epoch = meta.epoch.saturating_add(1);
            if Self::complete(broker, meta, false).is_ok() {
                let snapshot = meta.clone();
                let _ = self.persist(&id, &snapshot);
            }
        }
        if self.store.should_compact(txns.len()) {
            let live: Vec<(&String, Option<&TxnMeta>)> =
                txns.iter().map(|(id, m)| (id, Some(m))).collect();
            if let Err(e) = self.store.compact(&live) {
                tracing::error!(error = %e, "compacting transaction state failed");
            }
        }
        drop(txns);
        self.store.flush_if_due();
    }

    /// `(transactional id, producer id, state)`, filtered as ListTransactions asks.
    pub(crate) fn list(&self, states: &[String], pids: &[i64]) -> Vec<(String, i64, TxnState)> {
        let txns = self.txns.lock();
        let mut v: Vec<_> = txns
            .iter()
            .filter(|(_, m)| states.is_empty() || states.iter().any(|s| s == m.state.name()))
            .filter(|(_, m)| pids.is_empty() || pids.contains(&m.producer_id))
            .map(|(id, m)| (id.clone(), m.producer_id, m.state))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub(crate) fn describe(&self, id: &str) -> Option<TxnMeta> {
        self.txns.lock().get(id).cloned()
    }

    pub(crate) fn close(&self) -> Result<()> {
        self.store.close()
    }
}
