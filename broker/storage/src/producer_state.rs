//! Idempotent-producer state of one partition: the latest epoch of each producer id and its last
//! five batches, so that a retried batch is acknowledged without a second append and a gap in
//! sequence numbers is refused (Kafka keeps the same five, matching `max.in.flight` ≤ 5).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::batch::BatchHeader;
use crate::{Error, Result};

const CACHED_BATCHES: usize = 5;
pub(crate) const SNAPSHOT_FILE: &str = "producer-state";

/// The last line of a whole snapshot.
const SNAPSHOT_END: &str = "end";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// The max timestamp of the producer's last batch (-1 when not known).
    last_timestamp: i64,
}

/// A producer with state in a partition, as DescribeProducers reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// The sequence of its last record in the partition.
    pub last_sequence: i32,
    /// The max timestamp of its last batch, -1 when not known.
    pub last_timestamp: i64,
    /// The first offset of its open transaction in the partition.
    pub txn_start_offset: Option<i64>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Not idempotent, or the next batch in sequence: append it.
    Append,
    /// A retry of a batch already in the log at these offsets.
    Duplicate { base_offset: i64, last_offset: i64 },
}

fn last_seq(h: &BatchHeader) -> i32 {
    // Sequences wrap at i32::MAX back to 0, as in Kafka.
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1))
        as i32
}

fn next_after(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: producer id → first offset it wrote in the transaction.
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions still in the log: `(producer id, first offset, marker offset)`.
    aborted: Vec<(i64, i64, i64)>,
    /// When this broker last appended for each producer (or first saw it idle: state loaded
    /// from a snapshot), for `producer.id.expiration.ms`. Broker time, not the batches'
    /// timestamps: a producer replaying old records (MirrorMaker keeps their timestamps) is
    /// not idle.
    touched: HashMap<i64, Instant>,
}

impl ProducerStates {
    /// Checks `h` against the producer's state without changing it.
    pub(crate) fn check(&self, h: &BatchHeader) -> Result<SequenceCheck> {
        if h.producer_id < 0 {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // No state for this producer id: a new producer, or one whose state expired
            // (`producer.id.expiration.ms`) while it was idle. Kafka accepts any sequence here
            // (KIP-360); refusing it would turn an idle producer's next send into a fatal
            // OUT_OF_ORDER_SEQUENCE_NUMBER.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(Error::InvalidProducerEpoch {
                producer_id: h.producer_id,
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(Error::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                })
            };
        }
        let last = last_seq(h);
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
        {
            return Ok(SequenceCheck::Duplicate {
                base_offset: b.base_offset,
                last_offset: b.last_offset,
            });
        }
        let expected = entry.batches.back().map_or(0, |b| next_after(b.last_seq));
        if h.base_sequence != expected {
            return Err(Error::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected,
                got: h.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records a batch that is now in the log (with its assigned offsets).
    pub(crate) fn update(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 || h.is_control() {
            return;
        }
        if h.is_transactional() {
            self.ongoing.entry(h.producer_id).or_insert(h.base_offset);
        }
        self.touched.insert(h.producer_id, Instant::now());
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = h.max_timestamp;
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
    }

    /// A transaction marker at `h` (a control batch) ends the producer's open transaction. A
    /// marker with a newer epoch also fences the producer's older epoch.
    pub(crate) fn end_transaction(&mut self, h: &BatchHeader, commit: bool) {
        self.touched.insert(h.producer_id, Instant::now());
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch > entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        // As Kafka does: the marker's time is the producer's last timestamp.
        entry.last_timestamp = h.max_timestamp;
        if let Some(first) = self.ongoing.remove(&h.producer_id)
            && !commit
        {
            self.aborted.push((h.producer_id, first, h.base_offset));
        }
    }

    /// Forgets producers that appended nothing for `max_idle` and have no open transaction
    /// (Kafka's `producer.id.expiration.ms`), so that the state of a long-running partition
    /// does not grow with every producer instance it has seen. Returns how many were
    /// forgotten. A producer forgotten here that sends again is accepted at any sequence (see
    /// [`ProducerStates::check`]); only a retry of its last batch is no longer recognised.
    pub(crate) fn expire(&mut self, now: Instant, max_idle: Duration) -> usize {
        let before = self.producers.len();
        let (ongoing, touched) = (&self.ongoing, &mut self.touched);
        self.producers.retain(|pid, _| {
            if ongoing.contains_key(pid) {
                return true;
            }
            // State loaded at start has no time yet: its idle time counts from now.
            let since = *touched.entry(*pid).or_insert(now);
            now.saturating_duration_since(since) < max_idle
        });
        let producers = &self.producers;
        self.touched.retain(|pid, _| producers.contains_key(pid));
        before - self.producers.len()
    }

    /// What the compaction cleaner needs: the aborted transactions and each producer's last
    /// batch.
    pub(crate) fn txn_view(&self) -> crate::cleaner::TxnView {
        crate::cleaner::TxnView {
            aborted: self.aborted.clone(),
            last_batch: self
                .producers
                .iter()
                .filter_map(|(pid, e)| Some((*pid, e.batches.back()?.last_offset)))
                .collect(),
        }
    }

    /// Every producer with batches in the partition, by producer id.
    pub(crate) fn active(&self) -> Vec<ActiveProducer> {
        let mut out: Vec<ActiveProducer> = self
            .producers
            .iter()
            // A producer whose batches are gone (a marker of a newer epoch fenced it, as the
            // coordinator does when a transaction times out) is still known at its epoch, with
            // no last sequence, as Kafka lists it.
            .map(|(pid, e)| ActiveProducer {
                producer_id: *pid,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                txn_start_offset: self.ongoing.get(pid).copied(),
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// The last stable offset: the first offset of the oldest open transaction, at most `hwm`.
    pub(crate) fn last_stable_offset(&self, hwm: i64) -> i64 {
        self.ongoing
            .values()
            .copied()
            .min()
            .map_or(hwm, |first| first.min(hwm))
    }

    /// Aborted transactions with data in `[from, to)`: `(producer id, first offset)`.
    pub(crate) fn aborted_between(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        self.aborted
            .iter()
            .filter(|(_, first, last)| *last >= from && *first < to)
            .map(|(pid, first, _)| (*pid, *first))
            .collect()
    }

    /// Forgets aborted transactions wholly before the log start.
    pub(crate) fn prune_aborted(&mut self, log_start: i64) {
        self.aborted.retain(|(_, _, last)| *last >= log_start);
    }

    /// Forgets batches at or after `offset` (log truncation).
    pub(crate) fn truncate(&mut self, offset: i64) {
        self.ongoing.retain(|_, first| *first < offset);
        self.aborted.retain(|(_, _, last)| *last < offset);
        for e in self.producers.values_mut() {
            e.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    /// Writes the state, valid for the log up to `end_offset`, so that a restart replays only
    /// the batches after it, and syncs it. Format: a first line `end_offset`, then one line per
    /// cached batch, open transaction and aborted one, then [`SNAPSHOT_END`].
    pub(crate) fn write_snapshot(&self, dir: &Path, end_offset: i64) -> Result<()> {
        self.write_snapshot_file(dir, end_offset, true)
    }

    /// [`ProducerStates::write_snapshot`] without the fsync, for a segment roll: the flusher
    /// syncs the file with the sealed segment, off the append path. Synced there, under disk
    /// load it held the log's lock, and every produce of the partition, for tens to hundreds of
    /// milliseconds (as Kafka found, KAFKA-15046). A machine crash before the sync can leave the
    /// file empty or cut short; [`ProducerStates::read_snapshot`] then replays the whole log.
    pub(crate) fn write_snapshot_unsynced(&self, dir: &Path, end_offset: i64) -> Result<()> {
        self.write_snapshot_file(dir, end_offset, false)
    }

    fn write_snapshot_file(&self, dir: &Path, end_offset: i64, sync: bool) -> Result<()> {
        let mut out = format!("{end_offset}\n");
        for (pid, e) in &self.producers {
            for b in &e.batches {
                out.push_str(&format!(
                    "{pid} {} {} {} {} {} {}\n",
                    e.epoch,
                    b.first_seq,
                    b.last_seq,
                    b.base_offset,
                    b.last_offset,
                    e.last_timestamp
                ));
            }
        }
        for (pid, first) in &self.ongoing {
            out.push_str(&format!("t {pid} {first}\n"));
        }
        for (pid, first, last) in &self.aborted {
            out.push_str(&format!("a {pid} {first} {last}\n"));
        }
        out.push_str(SNAPSHOT_END);
        out.push('\n');
        let path = dir.join(SNAPSHOT_FILE);
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, out)?;
        if sync {
            std::fs::File::open(&tmp)?.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    /// Loads a snapshot, returning the state and the log offset it is valid up to. A missing,
    /// unreadable or incomplete snapshot (no [`SNAPSHOT_END`] line: cut short by a crash, or
    /// written by a version before there was one) yields an empty state valid up to offset 0
    /// (replay everything).
    pub(crate) fn read_snapshot(dir: &Path) -> (ProducerStates, i64) {
        let Ok(text) = std::fs::read_to_string(dir.join(SNAPSHOT_FILE)) else {
            return (ProducerStates::default(), 0);
        };
        let Some(text) = text
            .strip_suffix('\n')
            .and_then(|t| t.strip_suffix(SNAPSHOT_END))
        else {
            return (ProducerStates::default(), 0);
        };
        let mut lines = text.lines();
        let Some(end) = lines.next().and_then(|l| l.trim().parse::<i64>().ok()) else {
            return (ProducerStates::default(), 0);
        };
        let mut states = ProducerStates::default();
        for line in lines {
            let (tag, rest) = match line.split_once(' ') {
                Some((t @ ("t" | "a"), rest)) => (t, rest),
                _ => ("", line),
            };
            let parsed: Option<Vec<i64>> =
                rest.split_whitespace().map(|x| x.parse().ok()).collect();
            let Some(f) = parsed else {
                return (ProducerStates::default(), 0);
            };
            match (tag, &f[..]) {
                ("t", &[pid, first]) => {
                    states.ongoing.insert(pid, first);
                    continue;
                }
                ("a", &[pid, first, last]) => {
                    states.aborted.push((pid, first, last));
                    continue;
                }
                // Snapshots from before the last timestamp was kept have six fields.
                ("", &[_, _, _, _, _, _] | &[_, _, _, _, _, _, _]) => {}
                _ => return (ProducerStates::default(), 0),
            }
            let (pid, epoch, first_seq, last_seq, base_offset, last_offset) =
                (f[0], f[1], f[2], f[3], f[4], f[5]);
            let e = states.producers.entry(pid).or_default();
            e.epoch = epoch as i16;
            e.last_timestamp = f.get(6).copied().unwrap_or(-1);
            e.batches.push_back(BatchMeta {
                first_seq: first_seq as i32,
                last_seq: last_seq as i32,
                base_offset,
                last_offset,
            });
        }
        (states, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pid: i64, epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 49,
            leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            records_count: n,
        }
    }

    #[test]
    fn a_producer_fenced_by_a_marker_stays_listed_at_its_new_epoch() {
        let mut s = ProducerStates::default();
        s.update(&h(7, 0, 0, 3, 10));
        assert_eq!(s.active()[0].last_sequence, 2);
        // The coordinator aborts a timed-out transaction with the next epoch.
        s.end_transaction(&h(7, 1, -1, 1, 13), false);
        let listed = s.active();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].producer_id, listed[0].epoch), (7, 1));
        assert_eq!(listed[0].last_sequence, -1);
    }

    #[test]
    fn idle_producers_expire_unless_a_transaction_is_open() {
        let mut s = ProducerStates::default();
        s.update(&h(1, 0, 0, 2, 0));
        let mut open = h(2, 0, 0, 1, 2);
        open.attributes |= 0x10; // transactional
        s.update(&open);
        let start = Instant::now();
        let day = Duration::from_secs(86_400);
        assert_eq!(s.expire(start, day), 0, "nobody idle yet");
        assert_eq!(s.expire(start + day, day), 1, "the idle one goes");
        let left: Vec<i64> = s.active().iter().map(|p| p.producer_id).collect();
        assert_eq!(left, [2], "the one in a transaction stays");
        // Its next batch is accepted wherever its sequence is, and tracked again.
        assert_eq!(
            s.check(&h(1, 0, 2, 1, 3)).expect("expired producer"),
            SequenceCheck::Append
        );
        s.update(&h(1, 0, 2, 1, 3));
        assert!(
            matches!(
                s.check(&h(1, 0, 4, 1, 4)),
                Err(Error::OutOfOrderSequence { expected: 3, .. })
            ),
            "known again, so gaps are refused again"
        );
        // Ended, the transaction no longer holds its producer; state loaded from a snapshot
        // counts its idle time from the first pass that sees it.
        s.end_transaction(&h(2, 0, -1, 1, 5), true);
        let dir = tempfile::tempdir().expect("tmp");
        s.write_snapshot(dir.path(), 6).expect("snapshot");
        let (mut loaded, _) = ProducerStates::read_snapshot(dir.path());
        let later = start + day * 3;
        assert_eq!(loaded.expire(later, day), 0);
        assert_eq!(loaded.expire(later + day, day), 2);
        assert!(loaded.active().is_empty());
    }

    /// A snapshot written at a roll is synced later; one a crash cut short (or left empty) is
    /// not read as a smaller state, but as none: the whole log is replayed.
    #[test]
    fn a_snapshot_cut_short_is_not_read() {
        let mut s = ProducerStates::default();
        s.update(&h(1, 0, 0, 2, 0));
        s.update(&h(2, 0, 0, 1, 2));
        let dir = tempfile::tempdir().expect("tmp");
        s.write_snapshot_unsynced(dir.path(), 3).expect("snapshot");
        let (back, end) = ProducerStates::read_snapshot(dir.path());
        assert_eq!((back.active().len(), end), (2, 3), "a whole one is read");
        let path = dir.path().join(SNAPSHOT_FILE);
        let whole = std::fs::read_to_string(&path).expect("read");
        for cut in [0, 2, whole.find('\n').expect("line") + 1, whole.len() - 4] {
            std::fs::write(&path, &whole[..cut]).expect("write");
            let (back, end) = ProducerStates::read_snapshot(dir.path());
            assert_eq!(
                (back.active().len(), end),
                (0, 0),
                "cut at {cut}: {:?}",
                &whole[..cut]
            );
        }
    }

    #[test]
    fn sequences_duplicates_gaps_and_epochs() {
        let mut s = ProducerStates::default();
        assert_eq!(
            s.check(&h(-1, -1, -1, 3, 0)).expect("plain"),
            SequenceCheck::Append
        );
        assert_eq!(
            s.check(&h(7, 0, 5, 1, 0)).expect("unknown producer"),
            SequenceCheck::Append,
            "a producer with no state (new, or expired) may start at any sequence, as in Kafka"
        );
        s.update(&h(7, 0, 0, 3, 10));
        s.update(&h(7, 0, 3, 2, 13));
        assert_eq!(
            s.check(&h(7, 0, 0, 3, 0)).expect("dup"),
            SequenceCheck::Duplicate {
                base_offset: 10,
                last_offset: 12
            }
        );
        assert_eq!(
            s.check(&h(7, 0, 5, 1, 0)).expect("next"),
            SequenceCheck::Append
        );
        assert!(matches!(
            s.check(&h(7, 0, 6, 1, 0)),
            Err(Error::OutOfOrderSequence { expected: 5, .. })
        ));
        assert!(matches!(
            s.check(&h(7, -1, 5, 1, 0)),
            Err(Error::InvalidProducerEpoch { .. })
        ));
        assert_eq!(
            s.check(&h(7, 1, 0, 1, 0)).expect("new epoch"),
            SequenceCheck::Append
        );
        assert!(
            s.check(&h(7, 1, 4, 1, 0)).is_err(),
            "a new epoch starts at 0"
        );

        let dir = tempfile::tempdir().expect("tmp");
        s.write_snapshot(dir.path(), 15).expect("snapshot");
        let (back, end) = ProducerStates::read_snapshot(dir.path());
        assert_eq!(end, 15);
        assert_eq!(back.producers, s.producers);

        // Open and aborted transactions come back too (a snapshot with them was dropped
        // whole, and the partition replayed from its first offset).
        let mut txn = s.clone();
        txn.ongoing.insert(9, 40);
        txn.aborted.push((8, 20, 30));
        txn.write_snapshot(dir.path(), 50).expect("snapshot");
        let (back, end) = ProducerStates::read_snapshot(dir.path());
        assert_eq!(end, 50, "the snapshot is used");
        assert_eq!(back.producers, txn.producers);
        assert_eq!(back.ongoing, txn.ongoing);
        assert_eq!(back.aborted, txn.aborted);
        s.truncate(13);
        assert_eq!(
            s.check(&h(7, 0, 3, 1, 0)).expect("after truncate"),
            SequenceCheck::Append
        );
    }
}
