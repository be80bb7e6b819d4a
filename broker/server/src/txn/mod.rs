//! The transaction coordinator. Each transactional id maps to a producer id and epoch and, while
//! a transaction is open, the partitions and groups it touched and the offsets it will commit.
//!
//! Where the state lives: a lone node keeps it in `<data>/__transaction_state-0` (a
//! [`KvLog`]); a cluster keeps it in the replicated coordinator partition
//! `__consumer_offsets-0`, next to the committed offsets, so the group coordinator (that
//! partition's leader) is also the transaction coordinator and a new leader takes both over.
//!
//! Ending a transaction follows Kafka's two steps: the outcome is made durable first
//! (PrepareCommit / PrepareAbort), then a COMMIT or ABORT marker (a control batch) goes to
//! every partition in it: written in place where this broker leads, and sent as
//! WriteTxnMarkers to the leader elsewhere (see `markers.rs`). Once every marker is in its
//! partition's in-sync replicas the transaction's offsets are applied and it is complete. A
//! coordinator that fails between the two steps leaves the Prepare state in the log; its
//! successor finishes the markers. Requests for a transaction still completing get
//! CONCURRENT_TRANSACTIONS, which clients retry. A transaction open longer than its timeout is
//! aborted and its producer fenced (epoch bumped).

mod markers;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use weir_protocol::kafka::ResponseError;

use crate::Result;
use crate::broker::{Broker, now_ms};
use crate::group::{CommitResult, Committed, Durable, TxnEntries};
use crate::kvlog::KvLog;

pub(crate) use markers::write_marker;

/// Offsets to commit for one group, by topic and partition.
type PartitionOffsets = Vec<((String, i32), Committed)>;

pub(crate) const STATE_LOG: &str = "__transaction_state";
/// Kafka's `transaction.max.timeout.ms`.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long EndTxn and InitProducerId wait for a transaction's markers. EndTxn then answers
/// success anyway (the outcome is durable; the markers go on), InitProducerId answers
/// CONCURRENT_TRANSACTIONS and the client retries.
const COMPLETION_WAIT: Duration = Duration::from_secs(5);
/// How long a state change may take to reach the coordinator partition's in-sync replicas.
const STATE_TIMEOUT: Duration = Duration::from_secs(5);
/// The first pause before markers that failed are tried again (doubling up to 2 s).
const RETRY_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// `Some(commit)` while the outcome is decided and the markers are being written.
    fn preparing(self) -> Option<bool> {
        match self {
            TxnState::PrepareCommit => Some(true),
            TxnState::PrepareAbort => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TxnMeta {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    /// The producer id before the last rotation (epochs ran out), or -1.
    #[serde(default = "no_producer")]
    pub(crate) last_producer_id: i64,
    /// The epoch the last InitProducerId with an expected epoch bumped from, or -1. A retry of
    /// that call (its answer lost) names it and gets the current epoch back, not a new one.
    #[serde(default = "no_epoch")]
    pub(crate) last_epoch: i16,
    pub(crate) timeout_ms: i64,
    pub(crate) state: TxnState,
    pub(crate) partitions: BTreeSet<(String, i32)>,
    pub(crate) groups: BTreeSet<String>,
    /// `(group, topic, partition, offset)` committed when the transaction commits.
    pub(crate) pending_offsets: Vec<(String, String, i32, Committed)>,
    pub(crate) started_ms: i64,
    /// When the state last changed (Kafka's `txnLastUpdateTimestamp`), for
    /// `transactional.id.expiration.ms`. State written before it was kept counts from its load.
    #[serde(default = "now_ms")]
    pub(crate) updated_ms: i64,
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn no_producer() -> i64 {
    -1
}

fn no_epoch() -> i16 {
    -1
}

/// Kafka's `isEpochExhausted`: the next bump needs a new producer id.
fn exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// PRODUCER_FENCED, as requests from before it existed know it: INVALID_PRODUCER_EPOCH.
/// `fenced_since` is the first version of the API that has PRODUCER_FENCED.
pub(crate) fn fenced_code(c: i16, version: i16, fenced_since: i16) -> i16 {
    if c == code(ResponseError::ProducerFenced) && version < fenced_since {
        code(ResponseError::InvalidProducerEpoch)
    } else {
        c
    }
}

/// Waits until a state change is in the coordinator partition's in-sync replicas (a cluster);
/// a coordinator that lost its partition meanwhile answers NOT_COORDINATOR.
async fn durable(broker: &Broker, d: Option<Durable>) -> Result<(), i16> {
    let Some(d) = d else { return Ok(()) };
    broker
        .await_high_watermark(&d.partition, d.end, d.epoch, STATE_TIMEOUT)
        .await
        .map_err(|c| {
            if c == code(ResponseError::NotLeaderOrFollower) {
                code(ResponseError::NotCoordinator)
            } else {
                c
            }
        })
}

pub(crate) struct TxnCoordinator {
    txns: Mutex<HashMap<String, TxnMeta>>,
    /// A lone node's journal. `None` in a cluster, where the state goes to the replicated
    /// coordinator partition (through the group coordinator, which owns that partition).
    local: Option<KvLog>,
    /// Transactional ids whose markers a task is writing now.
    completing: Mutex<HashSet<String>>,
    /// Bumped whenever a completion task ends or the coordinator moves; requests waiting on
    /// a transaction to complete watch it.
    completions: tokio::sync::watch::Sender<u64>,
    /// When [`TxnCoordinator::tick`] next looks for expired transactional ids (ms since the
    /// epoch): a tenth of the expiration, at most once a minute, rather than at every tick.
    next_expiry_check: std::sync::atomic::AtomicI64,
}

enum InitStep {
    Done(Option<Durable>, i64, i16),
    Aborting(Option<Durable>),
    Wait,
}

impl TxnCoordinator {
    /// Opens the local journal and replays it; with `replicated` (a cluster) starts empty
    /// until this broker coordinates (see [`TxnCoordinator::take_over`]).
    pub(crate) fn open(data_dir: &Path, clean: bool, replicated: bool) -> Result<TxnCoordinator> {
        let mut txns = HashMap::new();
        let local = if replicated {
            None
        } else {
            let (store, entries) = KvLog::open::<String, TxnMeta>(data_dir, STATE_LOG, clean)?;
            fold(&mut txns, entries);
            Some(store)
        };
        Ok(TxnCoordinator {
            txns: Mutex::new(txns),
            local,
            completing: Mutex::new(HashSet::new()),
            completions: tokio::sync::watch::Sender::new(0),
            next_expiry_check: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// In a cluster: installs the transactions loaded by the new leader of the coordinator
    /// partition (`Some`), or forgets them when leadership moved away (`None`). Transactions
    /// found half-ended are finished by the next [`TxnCoordinator::tick`].
    pub(crate) fn take_over(&self, loaded: Option<TxnEntries>) {
        let mut txns = self.txns.lock();
        txns.clear();
        if let Some(entries) = loaded {
            fold(&mut txns, entries);
            tracing::info!(
                transactions = txns.len(),
                "transaction coordinator: state loaded"
            );
        }
        drop(txns);
        self.completions.send_modify(|n| *n += 1);
    }

    /// Records `meta` for `id`: in the local journal, or in the replicated coordinator
    /// partition, durable once the returned [`Durable`] is.
    fn persist(
        &self,
        broker: &Broker,
        id: &str,
        meta: &mut TxnMeta,
    ) -> Result<Option<Durable>, i16> {
        meta.updated_ms = now_ms();
        let written = match &self.local {
            Some(log) => log.append(&[(id, Some(meta))]).map(|()| None),
            None => broker.groups.append_txn(id, Some(meta)).map(Some),
        };
        written.map_err(|e| {
            tracing::error!(transactional_id = id, error = %e, "persisting transaction state failed");
            e.kafka_code()
        })
    }

    fn check<'a>(
        broker: &Broker,
        txns: &'a mut HashMap<String, TxnMeta>,
        id: &str,
        pid: i64,
        epoch: i16,
    ) -> Result<&'a mut TxnMeta, i16> {
        if !broker.groups.is_coordinator() {
            return Err(code(ResponseError::NotCoordinator));
        }
        let meta = txns
            .get_mut(id)
            .ok_or(code(ResponseError::InvalidProducerIdMapping))?;
        if meta.producer_id != pid {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        }
        if meta.epoch != epoch {
            return Err(code(ResponseError::ProducerFenced));
        }
        Ok(meta)
    }

    /// The epoch for the next producer instance, as Kafka's `prepareIncrementProducerEpoch`
    /// and `prepareProducerIdRotation` decide it. `expected` is the epoch a producer
    /// recovering from an error names (`None` for a new instance): its own current epoch is
    /// bumped, the one it bumped from last (a retry whose answer was lost) gets the current
    /// epoch back, and any other is fenced.
    fn next_epoch(
        broker: &Broker,
        id: &str,
        meta: &mut TxnMeta,
        expected: Option<i16>,
    ) -> Result<(), i16> {
        if exhausted(meta.epoch) && expected.is_none_or(|e| e == meta.epoch) {
            let pid = broker.allocate_producer_id().map_err(|e| e.kafka_code())?;
            meta.last_epoch = if expected.is_some() { meta.epoch } else { -1 };
            meta.last_producer_id = meta.producer_id;
            meta.producer_id = pid;
            meta.epoch = 0;
            return Ok(());
        }
        match expected {
            None => {
                meta.last_epoch = -1;
                meta.epoch += 1;
            }
            Some(e) if e == meta.epoch => {
                meta.last_epoch = meta.epoch;
                meta.epoch += 1;
            }
            Some(e) if e == meta.last_epoch => {}
            Some(e) => {
                tracing::info!(
                    transactional_id = id,
                    expected = e,
                    current = meta.epoch,
                    previous = meta.last_epoch,
                    "InitProducerId names a fenced epoch"
                );
                return Err(code(ResponseError::ProducerFenced));
            }
        }
        Ok(())
    }

    /// Fences the producer of an open transaction before aborting it (Kafka's
    /// `prepareFenceProducerEpoch`): the abort markers carry the new epoch, and the producer id
    /// stays, since the markers must name the producer that wrote the data.
    fn fence(meta: &mut TxnMeta) {
        meta.epoch = meta.epoch.saturating_add(1);
        meta.last_epoch = -1;
        meta.state = TxnState::PrepareAbort;
    }

    /// InitProducerId for a transactional id: fences the previous producer instance by
    /// bumping the epoch and returns `(producer id, epoch)`. An open transaction is aborted
    /// first (and one still completing finished), as Kafka does. `expected` is the producer
    /// id and epoch a producer recovering from an error names (KIP-360); an instance that
    /// another has replaced gets PRODUCER_FENCED.
    pub(crate) async fn init_producer(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), i16> {
        if id.is_empty() {
            return Err(code(ResponseError::InvalidRequest));
        }
        if timeout_ms <= 0 || timeout_ms as u128 > MAX_TIMEOUT.as_millis() {
            return Err(code(ResponseError::InvalidTransactionTimeout));
        }
        let deadline = Instant::now() + COMPLETION_WAIT;
        loop {
            let mut completed = self.completions.subscribe();
            let step = {
                if !broker.groups.is_coordinator() {
                    return Err(code(ResponseError::NotCoordinator));
                }
                let mut txns = self.txns.lock();
                // Kafka's `isValidProducerId`: the request names the current producer id, or
                // the one before a rotation with the epoch that ran out.
                let valid = |meta: &TxnMeta| {
                    expected.is_none_or(|(pid, epoch)| {
                        pid == meta.producer_id
                            || (pid == meta.last_producer_id && exhausted(epoch))
                    })
                };
                match txns.get_mut(id) {
                    Some(meta) if !valid(meta) => {
                        return Err(code(ResponseError::ProducerFenced));
                    }
                    Some(meta) if meta.state.preparing().is_some() => InitStep::Wait,
                    Some(meta) if meta.state == TxnState::Ongoing => {
                        tracing::info!(
                            transactional_id = id,
                            "a new producer instance aborts the open transaction"
                        );
                        Self::fence(meta);
                        InitStep::Aborting(self.persist(broker, id, meta)?)
                    }
                    Some(meta) => {
                        Self::next_epoch(broker, id, meta, expected.map(|(_, e)| e))?;
                        meta.state = TxnState::Empty;
                        meta.timeout_ms = i64::from(timeout_ms);
                        meta.started_ms = -1;
                        InitStep::Done(
                            self.persist(broker, id, meta)?,
                            meta.producer_id,
                            meta.epoch,
                        )
                    }
                    None => {
                        let mut meta = TxnMeta {
                            producer_id: broker
                                .allocate_producer_id()
                                .map_err(|e| e.kafka_code())?,
                            epoch: 0,
                            last_producer_id: -1,
                            last_epoch: -1,
                            timeout_ms: i64::from(timeout_ms),
                            state: TxnState::Empty,
                            partitions: BTreeSet::new(),
                            groups: BTreeSet::new(),
                            pending_offsets: Vec::new(),
                            started_ms: -1,
                            updated_ms: now_ms(),
                        };
                        let d = self.persist(broker, id, &mut meta)?;
                        let step = InitStep::Done(d, meta.producer_id, meta.epoch);
                        txns.insert(id.to_string(), meta);
                        step
                    }
                }
            };
            match step {
                InitStep::Done(d, pid, epoch) => {
                    durable(broker, d).await?;
                    return Ok((pid, epoch));
                }
                InitStep::Aborting(d) => {
                    durable(broker, d).await?;
                    self.spawn_completion(broker, id);
                }
                InitStep::Wait => self.spawn_completion(broker, id),
            }
            match tokio::time::timeout_at(deadline, completed.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(code(ResponseError::ConcurrentTransactions)),
            }
        }
    }

    fn begin(meta: &mut TxnMeta) {
        if meta.state != TxnState::Ongoing {
            meta.state = TxnState::Ongoing;
            meta.started_ms = now_ms();
        }
    }

    pub(crate) async fn add_partitions(
        &self,
        broker: &Broker,
        id: &str,
        pid: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<CommitResult, i16> {
        let d = {
            let mut txns = self.txns.lock();
            let meta = Self::check(broker, &mut txns, id, pid, epoch)?;
            if meta.state.preparing().is_some() {
                return Err(code(ResponseError::ConcurrentTransactions));
            }
            // The coordinator need not host the partitions: they are checked against metadata.
            let unknown: Vec<&(String, i32)> = partitions
                .iter()
                .filter(|(t, p)| !broker.partition_exists(t, *p))
                .collect();
            if !unknown.is_empty() {
                // Kafka refuses the whole request: unknown ones get their code, the rest
                // OPERATION_NOT_ATTEMPTED.
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
            let known = meta.state == TxnState::Ongoing
                && partitions.iter().all(|tp| meta.partitions.contains(tp));
            if known {
                None
            } else {
                Self::begin(meta);
                meta.partitions.extend(partitions.iter().cloned());
                self.persist(broker, id, meta)?
            }
        };
        durable(broker, d).await?;
        Ok(partitions.iter().map(|tp| (tp.clone(), 0)).collect())
    }

    pub(crate) async fn add_offsets(
        &self,
        broker: &Broker,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
    ) -> i16 {
        let d = {
            let mut txns = self.txns.lock();
            let meta = match Self::check(broker, &mut txns, id, pid, epoch) {
                Ok(m) => m,
                Err(c) => return c,
            };
            if meta.state.preparing().is_some() {
                return code(ResponseError::ConcurrentTransactions);
            }
            Self::begin(meta);
            meta.groups.insert(group.to_string());
            match self.persist(broker, id, meta) {
                Ok(d) => d,
                Err(c) => return c,
            }
        };
        durable(broker, d).await.err().unwrap_or(0)
    }

    pub(crate) async fn txn_offset_commit(
        &self,
        broker: &Broker,
        id: &str,
        pid: i64,
        epoch: i16,
        group: &str,
        offsets: Vec<((String, i32), Committed)>,
    ) -> i16 {
        let d = {
            let mut txns = self.txns.lock();
            let meta = match Self::check(broker, &mut txns, id, pid, epoch) {
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
            match self.persist(broker, id, meta) {
                Ok(d) => d,
                Err(c) => return c,
            }
        };
        durable(broker, d).await.err().unwrap_or(0)
    }

    /// EndTxn: decides the outcome durably, then writes the markers; answers once they are
    /// written, or after [`COMPLETION_WAIT`] with the markers still going (the outcome is
    /// already decided, and the next transaction waits for them).
    pub(crate) async fn end_txn(
        &self,
        broker: &Arc<Broker>,
        id: &str,
        pid: i64,
        epoch: i16,
        commit: bool,
    ) -> i16 {
        let mut completed = self.completions.subscribe();
        let d = {
            let mut txns = self.txns.lock();
            let meta = match Self::check(broker, &mut txns, id, pid, epoch) {
                Ok(m) => m,
                Err(c) => return c,
            };
            match (meta.state, commit) {
                (TxnState::Ongoing, _) => {
                    meta.state = if commit {
                        TxnState::PrepareCommit
                    } else {
                        TxnState::PrepareAbort
                    };
                    match self.persist(broker, id, meta) {
                        Ok(d) => d,
                        Err(c) => return c,
                    }
                }
                // A retry while the markers are being written waits for them.
                (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => None,
                // A retry after it completed is answered the same way.
                (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => return 0,
                _ => return code(ResponseError::InvalidTxnState),
            }
        };
        if let Err(c) = durable(broker, d).await {
            return c;
        }
        self.spawn_completion(broker, id);
        let deadline = Instant::now() + COMPLETION_WAIT;
        loop {
            let done = self
                .txns
                .lock()
                .get(id)
                .is_none_or(|m| m.state.preparing().is_none() || m.producer_id != pid);
            if done {
                return 0;
            }
            match tokio::time::timeout_at(deadline, completed.changed()).await {
                Ok(Ok(())) => {}
                _ => return 0,
            }
        }
    }

    /// Starts the task that writes `id`'s markers, unless one runs already.
    fn spawn_completion(&self, broker: &Arc<Broker>, id: &str) {
        if !self.completing.lock().insert(id.to_string()) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.completing.lock().remove(id);
            return;
        };
        let b = broker.clone();
        let id = id.to_string();
        rt.spawn(async move {
            b.txns.complete(&b, &id).await;
            b.txns.completing.lock().remove(&id);
            b.txns.completions.send_modify(|n| *n += 1);
        });
    }

    /// Writes the markers of `id`'s decided transaction until every partition has one, then
    /// applies its offsets (on commit) and records it complete. Gives up when this broker
    /// stops coordinating (the next coordinator finishes from the Prepare state) or the
    /// transaction changed under it.
    async fn complete(&self, broker: &Arc<Broker>, id: &str) {
        let mut done: HashSet<(String, i32)> = HashSet::new();
        let mut pause = RETRY_PAUSE;
        let mut stop = broker.shutdown_signal();
        loop {
            if *stop.borrow() || !broker.groups.is_coordinator() {
                return;
            }
            let Some(meta) = self.txns.lock().get(id).cloned() else {
                return;
            };
            let Some(commit) = meta.state.preparing() else {
                return;
            };
            let todo: Vec<(String, i32)> = meta
                .partitions
                .iter()
                .filter(|tp| !done.contains(*tp))
                .cloned()
                .collect();
            let coordinator_epoch = broker.groups.coordinator_epoch().unwrap_or(0);
            for (tp, outcome) in markers::write_all(
                broker,
                &todo,
                meta.producer_id,
                meta.epoch,
                commit,
                coordinator_epoch,
            )
            .await
            {
                match outcome {
                    Ok(()) => {
                        done.insert(tp);
                    }
                    // A partition deleted meanwhile needs no marker.
                    Err(c) if c == code(ResponseError::UnknownTopicOrPartition) => {
                        done.insert(tp);
                    }
                    Err(c) => tracing::debug!(
                        transactional_id = id, topic = %tp.0, partition = tp.1, error = c,
                        "transaction marker not written yet; trying again"
                    ),
                }
            }
            if meta.partitions.iter().all(|tp| done.contains(tp)) {
                match self.finish(broker, id, &meta, commit) {
                    Ok(ds) => {
                        for d in ds {
                            if let Err(c) = durable(broker, Some(d)).await {
                                tracing::warn!(
                                    transactional_id = id,
                                    error = c,
                                    "completed transaction state not replicated yet"
                                );
                            }
                        }
                        broker.notify_append();
                        return;
                    }
                    Err(c) => tracing::warn!(
                        transactional_id = id,
                        error = c,
                        "applying a committed transaction's offsets failed; trying again"
                    ),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// With every marker written: applies the offsets of a commit and records the
    /// transaction complete, if it is still the one `meta` describes.
    fn finish(
        &self,
        broker: &Broker,
        id: &str,
        meta: &TxnMeta,
        commit: bool,
    ) -> Result<Vec<Durable>, i16> {
        let mut txns = self.txns.lock();
        let Some(m) = txns.get_mut(id) else {
            return Ok(Vec::new());
        };
        if m.producer_id != meta.producer_id || m.epoch != meta.epoch || m.state != meta.state {
            return Ok(Vec::new());
        }
        let mut durables = Vec::new();
        if commit {
            let mut by_group: HashMap<&str, PartitionOffsets> = HashMap::new();
            for (g, t, p, c) in &m.pending_offsets {
                by_group
                    .entry(g)
                    .or_default()
                    .push(((t.clone(), *p), c.clone()));
            }
            for (g, offsets) in by_group {
                durables.extend(broker.groups.commit_transactional(g, offsets)?);
            }
        }
        m.state = if commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        m.partitions.clear();
        m.groups.clear();
        m.pending_offsets.clear();
        durables.extend(self.persist(broker, id, m)?);
        Ok(durables)
    }

    /// Aborts transactions open longer than their timeout (fencing their producer) and
    /// finishes decided ones no task is completing (after a coordinator change).
    pub(crate) fn tick(&self, broker: &Arc<Broker>) {
        if !broker.groups.is_coordinator() {
            return;
        }
        let now = now_ms();
        let mut txns = self.txns.lock();
        let mut finish = Vec::new();
        for (id, meta) in txns.iter_mut() {
            if meta.state == TxnState::Ongoing && now - meta.started_ms > meta.timeout_ms {
                tracing::warn!(transactional_id = %id, "transaction timed out: aborting and fencing its producer");
                Self::fence(meta);
                // The markers need not wait for this to replicate: a successor that missed it
                // aborts the transaction again when it times out there.
                let _ = self.persist(broker, id, meta);
            }
            if meta.state.preparing().is_some() && !self.completing.lock().contains(id) {
                finish.push(id.clone());
            }
        }
        self.expire_if_due(broker, &mut txns, now);
        if self.local.is_none() {
            broker.groups.compact_coordinator_log(&txns);
        }
        if let Some(log) = &self.local
            && log.should_compact(txns.len())
        {
            let live: Vec<(&String, Option<&TxnMeta>)> =
                txns.iter().map(|(id, m)| (id, Some(m))).collect();
            if let Err(e) = log.compact(&live) {
                tracing::error!(error = %e, "compacting transaction state failed");
            }
        }
        drop(txns);
        for id in finish {
            self.spawn_completion(broker, &id);
        }
        if let Some(log) = &self.local {
            log.flush_if_due();
        }
    }

    fn expire_if_due(&self, broker: &Broker, txns: &mut HashMap<String, TxnMeta>, now: i64) {
        use std::sync::atomic::Ordering;
        if now < self.next_expiry_check.load(Ordering::Relaxed) {
            return;
        }
        let every = (broker.config.transactional_id_expiration / 10).min(Duration::from_secs(60));
        let every = i64::try_from(every.as_millis()).unwrap_or(60_000);
        self.next_expiry_check.store(now + every, Ordering::Relaxed);
        self.expire(broker, txns, now);
    }

    /// Forgets transactional ids with no transaction open or ending whose state has not changed
    /// for `transactional.id.expiration.ms`, as Kafka's coordinator does: a producer that comes
    /// back with the id later gets a new producer id. The removal is journalled (a tombstone),
    /// so a restart or a new coordinator does not bring the id back.
    fn expire(&self, broker: &Broker, txns: &mut HashMap<String, TxnMeta>, now: i64) {
        let max_idle = i64::try_from(broker.config.transactional_id_expiration.as_millis())
            .unwrap_or(i64::MAX);
        let completing = self.completing.lock();
        let expired: Vec<String> = txns
            .iter()
            .filter(|(id, m)| {
                matches!(
                    m.state,
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                ) && now.saturating_sub(m.updated_ms) >= max_idle
                    && !completing.contains(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        drop(completing);
        for id in expired {
            let written = match &self.local {
                Some(log) => log.append::<&str, TxnMeta>(&[(id.as_str(), None)]),
                None => broker.groups.append_txn(&id, None).map(|_| ()),
            };
            match written {
                Ok(()) => {
                    tracing::info!(transactional_id = %id, "transactional id expired");
                    txns.remove(&id);
                }
                Err(e) => {
                    tracing::warn!(transactional_id = %id, error = %e, "could not expire a transactional id");
                    return;
                }
            }
        }
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

    /// Partitions of `group` with offsets sent in a transaction still open (OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT for them).
    pub(crate) fn pending_offsets_of(
        &self,
        group: &str,
    ) -> std::collections::HashSet<(String, i32)> {
        self.txns
            .lock()
            .values()
            .flat_map(|m| m.pending_offsets.iter())
            .filter(|(g, ..)| g == group)
            .map(|(_, t, p, _)| (t.clone(), *p))
            .collect()
    }

    pub(crate) fn describe(&self, id: &str) -> Option<TxnMeta> {
        self.txns.lock().get(id).cloned()
    }

    pub(crate) fn close(&self) -> Result<()> {
        match &self.local {
            Some(log) => log.close(),
            None => Ok(()),
        }
    }
}

/// Folds journal entries (last write wins; `None` deletes) into `txns`.
fn fold(txns: &mut HashMap<String, TxnMeta>, entries: TxnEntries) {
    for (id, meta) in entries {
        match meta {
            Some(m) => txns.insert(id, m),
            None => txns.remove(&id),
        };
    }
}
