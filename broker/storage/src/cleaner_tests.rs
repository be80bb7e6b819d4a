//! Compaction on real files: what stays, at which offsets, through restarts and crashes.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::*;

/// One producer's batch of `(key, value)` records, as a client encodes it.
pub(crate) struct Batch<'a> {
    records: &'a [(Option<&'a str>, Option<&'a str>)],
    ts: i64,
    compression: Compression,
    producer_id: i64,
    seq: i32,
    transactional: bool,
}

impl<'a> Batch<'a> {
    pub(crate) fn plain(records: &'a [(Option<&'a str>, Option<&'a str>)], ts: i64) -> Self {
        Batch {
            records,
            ts,
            compression: Compression::None,
            producer_id: -1,
            seq: -1,
            transactional: false,
        }
    }

    pub(crate) fn encode(&self) -> Bytes {
        let records: Vec<Record> = self
            .records
            .iter()
            .enumerate()
            .map(|(i, (k, v))| Record {
                transactional: self.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: self.producer_id,
                producer_epoch: if self.producer_id < 0 { -1 } else { 0 },
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: if self.seq < 0 {
                    i as i32 - 1
                } else {
                    self.seq + i as i32
                },
                timestamp: self.ts + i as i64,
                key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut buf,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: self.compression,
            },
        )
        .expect("encode");
        buf.freeze()
    }
}

/// `n` one-record batches of `key`, timestamped from `ts`, to fill and roll segments.
fn pad(log: &Log, key: &str, n: i64, ts: i64, now: i64) {
    for i in 0..n {
        let records = [(Some(key), Some("filler-filler-filler"))];
        append(log, &Batch::plain(&records, ts + i), now);
    }
}

fn compacted() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 100,
        compact: true,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn append(log: &Log, b: &Batch<'_>, now: i64) -> AppendInfo {
    let info = log.append(&b.encode(), 0, now).expect("append");
    log.set_high_watermark(log.log_end_offset());
    info
}

/// Every record from `from` to the high watermark: (offset, key, value).
fn read_all(log: &Log, from: i64) -> Vec<(i64, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut at = from.max(log.log_start_offset());
    while at < log.high_watermark() {
        let r = log.read(at, 1 << 20, true).expect("read");
        if r.records.is_empty() {
            break;
        }
        let mut buf = r.records.clone();
        let mut next = at;
        while !buf.is_empty() {
            let h = BatchHeader::parse(&buf).expect("header");
            let mut one = buf.split_to(h.total_len());
            validate_batch(&one).expect("a valid batch");
            let set = RecordBatchDecoder::decode(&mut one).expect("decode");
            for rec in set.records {
                if rec.offset >= at && !rec.control {
                    let s = |b: Option<Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
                    out.push((rec.offset, s(rec.key), s(rec.value)));
                }
            }
            next = h.last_offset() + 1;
        }
        at = next;
    }
    out
}

fn latest_by_key(records: &[(i64, Option<String>, Option<String>)]) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for (o, k, _) in records {
        if let Some(k) = k {
            m.insert(k.clone(), *o);
        }
    }
    m
}

/// Ten rounds over keys k0..k4, each round one batch; one more batch rolls the last round's
/// segment so that it can be cleaned.
fn ten_rounds(log: &Log) {
    for round in 0..10 {
        let values: Vec<String> = (0..5).map(|_| format!("r{round}")).collect();
        let keys: Vec<String> = (0..5).map(|k| format!("k{k}")).collect();
        let recs: Vec<(Option<&str>, Option<&str>)> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
            .collect();
        append(log, &Batch::plain(&recs, 1000 + round), 1000);
    }
}

/// [`ten_rounds`], then one more record of k0 at offset 50.
fn ten_rounds_and_a_last(log: &Log) {
    ten_rounds(log);
    append(
        log,
        &Batch::plain(&[(Some("k0"), Some("last"))], 2000),
        1000,
    );
}

#[test]
fn each_key_keeps_its_latest_record_at_its_offset() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    ten_rounds_and_a_last(&log);
    let before = read_all(&log, 0);
    assert_eq!(before.len(), 51);
    assert!(log.segment_count() > 3, "small segments roll");

    let out = log.clean(5000).expect("clean").expect("a pass ran");
    assert!(out.records_removed > 0, "{out:?}");
    assert!(out.bytes_after < out.bytes_before, "{out:?}");
    let after = read_all(&log, 0);
    // Every key's latest record is there, at the offset it had, and nothing older of a key
    // survives in the cleaned segments.
    assert_eq!(latest_by_key(&after), latest_by_key(&before));
    for (o, k, v) in &after {
        let original = before
            .iter()
            .find(|r| r.0 == *o)
            .expect("an original offset");
        assert_eq!((&original.1, &original.2), (k, v));
    }
    assert!(after.len() < 20, "{after:?}");
    assert!(log.size_bytes() < out.bytes_before);
    // Offsets in the gaps are read from the next record on.
    let from_gap = read_all(&log, 1);
    assert_eq!(
        from_gap.first().map(|r| r.0),
        after.iter().map(|r| r.0).find(|&o| o >= 1)
    );
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.log_end_offset(), 51);

    // A second pass with nothing new to clean does nothing.
    assert_eq!(log.clean(5000).expect("clean"), None);
    // Produce goes on at the log end, and the state survives a restart.
    append(
        &log,
        &Batch::plain(&[(Some("k1"), Some("new"))], 3000),
        3000,
    );
    drop(log);
    let log = Log::open(dir.path(), compacted(), false, 0).expect("reopen");
    log.set_high_watermark(log.log_end_offset());
    // An emptied first segment neither moves the log start nor goes to retention.
    log.enforce_retention(3000).expect("retention");
    assert_eq!(log.log_start_offset(), 0);
    let reopened = read_all(&log, 0);
    assert_eq!(reopened.last().map(|r| r.0), Some(51));
    assert_eq!(&reopened[..after.len()], &after[..]);
}

#[test]
fn keyless_records_are_refused_by_a_compacted_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    let b = Batch::plain(&[(Some("a"), Some("1")), (None, Some("2"))], 1000).encode();
    let err = log.append(&b, 0, 1000).expect_err("refused");
    assert!(matches!(err, Error::InvalidRecord(_)), "{err}");
    assert_eq!(err.kafka_code(), 87);
    assert!(
        err.to_string()
            .contains("without key (the record at position 1 "),
        "{err}"
    );
    assert_eq!(log.log_end_offset(), 0, "nothing of the batch was written");
    // A delete-policy log takes them.
    let plain = Log::open(&dir.path().join("p"), LogConfig::default(), false, 0).expect("open");
    plain
        .append(&b, 0, 1000)
        .expect("a delete-policy log stores keyless records");
}

#[test]
fn tombstones_stay_for_delete_retention_after_their_first_pass_then_go() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = LogConfig {
        delete_retention_ms: 10_000,
        ..compacted()
    };
    let log = Log::open(dir.path(), cfg, false, 0).expect("open");
    append(
        &log,
        &Batch::plain(&[(Some("a"), Some("1")), (Some("b"), Some("1"))], 1000),
        1000,
    );
    append(&log, &Batch::plain(&[(Some("a"), None)], 1001), 1000);
    pad(&log, "c", 6, 1002, 1000);
    log.clean(2000).expect("clean").expect("a pass");
    let after = read_all(&log, 0);
    assert!(
        !after
            .iter()
            .any(|r| r.1.as_deref() == Some("a") && r.2.is_some()),
        "{after:?}"
    );
    assert!(
        after
            .iter()
            .any(|r| r.1.as_deref() == Some("a") && r.2.is_none()),
        "the tombstone stays through its first pass: {after:?}"
    );
    // More data makes the log dirty again; within delete.retention.ms the tombstone stays...
    pad(&log, "d", 6, 5000, 5000);
    log.clean(6000).expect("clean");
    assert!(
        read_all(&log, 0)
            .iter()
            .any(|r| r.1.as_deref() == Some("a"))
    );
    // ...and after it, the next pass removes it; "b" is untouched.
    pad(&log, "e", 6, 20_000, 20_000);
    log.clean(20_000).expect("clean").expect("a pass");
    let last = read_all(&log, 0);
    assert!(
        !last.iter().any(|r| r.1.as_deref() == Some("a")),
        "{last:?}"
    );
    assert!(last.iter().any(|r| r.1.as_deref() == Some("b")));
}

#[test]
fn compressed_batches_keep_their_codec_offsets_and_record_bytes() {
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
        let b = Batch {
            compression,
            ..Batch::plain(
                &[
                    (Some("x"), Some("1")),
                    (Some("y"), Some("1")),
                    (Some("x"), Some("2")),
                ],
                1000,
            )
        };
        append(&log, &b, 1000);
        pad(&log, "z", 8, 2000, 1000);
        log.clean(5000).expect("clean").expect("a pass");
        let r = log.read(0, 1 << 20, true).expect("read");
        let h = BatchHeader::parse(&r.records).expect("header");
        assert_eq!(
            h.compression(),
            b.encode()[22] as i16 & 7,
            "{compression:?} kept"
        );
        // The batch keeps its base offset and range, as Kafka's cleaner leaves a v2 batch.
        assert_eq!((h.base_offset, h.last_offset()), (0, 2), "{compression:?}");
        assert_eq!(h.records_count, 2);
        let after = read_all(&log, 0);
        assert_eq!(
            after
                .iter()
                .filter(|r| r.0 <= 2)
                .cloned()
                .collect::<Vec<_>>(),
            vec![
                (1, Some("y".into()), Some("1".into())),
                (2, Some("x".into()), Some("2".into()))
            ],
            "{compression:?}"
        );
    }
}

#[test]
fn aborted_records_neither_shadow_committed_ones_nor_stay() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    append(
        &log,
        &Batch::plain(&[(Some("k"), Some("committed"))], 1000),
        1000,
    );
    let txn = Batch {
        producer_id: 7,
        seq: 0,
        transactional: true,
        ..Batch::plain(&[(Some("k"), Some("aborted"))], 1001)
    };
    append(&log, &txn, 1000);
    log.append_control(7, 0, false, 0, 0, 1000)
        .expect("abort marker");
    pad(&log, "z", 8, 2000, 1000);
    log.set_high_watermark(log.log_end_offset());
    log.clean(5000).expect("clean").expect("a pass");
    let after = read_all(&log, 0);
    assert!(
        after.contains(&(0, Some("k".into()), Some("committed".into()))),
        "{after:?}"
    );
    assert!(
        !after.iter().any(|r| r.2.as_deref() == Some("aborted")),
        "{after:?}"
    );
    // The producer's last batch stays, empty, so that its sequence is known after a restart
    // whose snapshot is gone.
    drop(log);
    std::fs::remove_file(dir.path().join("producer-state")).ok();
    let log = Log::open(dir.path(), compacted(), false, 0).expect("reopen");
    let again = Batch { seq: 0, ..txn };
    assert!(
        log.duplicate_of(&BatchHeader::parse(&again.encode()).expect("h"))
            .expect("check")
            .is_some()
    );
}

#[test]
fn an_open_transaction_is_not_cleaned() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    let txn = Batch {
        producer_id: 9,
        seq: 0,
        transactional: true,
        ..Batch::plain(&[(Some("k"), Some("open"))], 1000)
    };
    append(&log, &txn, 1000);
    pad(&log, "k", 8, 2000, 1000);
    assert_eq!(
        log.clean(5000).expect("clean"),
        None,
        "everything is above the LSO"
    );
    assert_eq!(read_all(&log, 0).len(), 9);
}

#[test]
fn the_dirty_ratio_and_the_compaction_lag_hold_a_pass_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = LogConfig {
        min_compaction_lag_ms: 60_000,
        ..compacted()
    };
    let log = Log::open(dir.path(), cfg.clone(), false, 0).expect("open");
    ten_rounds(&log);
    assert_eq!(
        log.clean(2000).expect("clean"),
        None,
        "records are younger than the lag"
    );
    assert!(log.clean(100_000).expect("clean").is_some());
    log.set_config(LogConfig {
        min_cleanable_dirty_ratio: 0.99,
        ..cfg
    });
    ten_rounds(&log);
    assert_eq!(
        log.clean(200_000).expect("clean"),
        None,
        "below the dirty ratio"
    );
}

#[test]
fn a_small_offset_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    ten_rounds_and_a_last(&log);
    let expected = latest_by_key(&read_all(&log, 0));
    let mut passes = 0;
    while log.clean_within(5000, 1).expect("clean").is_some() {
        passes += 1;
        assert!(passes < 50);
    }
    assert!(passes > 1, "{passes}");
    let after = read_all(&log, 0);
    assert_eq!(latest_by_key(&after), expected);
    assert!(after.len() < 20, "{after:?}");
}

#[test]
fn a_crash_mid_swap_is_finished_and_an_unfinished_copy_discarded() {
    let dir = tempfile::tempdir().expect("tmp");
    let expected;
    let cleaned;
    {
        let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
        ten_rounds_and_a_last(&log);
        expected = read_all(&log, 0);
        log.close().expect("close");
    }
    // Clean a copy of the directory, and take its first segment as a committed swap.
    let copy = tempfile::tempdir().expect("tmp");
    for e in std::fs::read_dir(dir.path()).expect("ls") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), copy.path().join(e.file_name())).expect("copy");
    }
    {
        let log = Log::open(copy.path(), compacted(), true, 0).expect("open copy");
        log.set_high_watermark(log.log_end_offset());
        let out = log.clean(5000).expect("clean").expect("a pass");
        cleaned = read_all(&log, 0);
        assert_eq!(out.records_removed, 45);
    }
    let first = std::fs::read(copy.path().join(format!("{:020}.log", 0))).expect("cleaned segment");
    // The original's second segment: where the swapped-in copy of the first one ends.
    let mut bases: Vec<i64> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    bases.sort_unstable();
    let next_base = bases[1];
    std::fs::write(dir.path().join(format!("{:020}.swap", 0)), &first).expect("swap");
    std::fs::write(
        dir.path().join(format!("{:020}.cleaned", 0)),
        b"half a copy",
    )
    .expect("cleaned");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("recovering open");
    log.set_high_watermark(log.log_end_offset());
    let recovered = read_all(&log, 0);
    assert!(!dir.path().join(format!("{:020}.cleaned", 0)).exists());
    assert!(!dir.path().join(format!("{:020}.swap", 0)).exists());
    // Up to the swap's end the log is the cleaned copy; after it, the original segments.
    let (head, tail): (Vec<_>, Vec<_>) = recovered.iter().cloned().partition(|r| r.0 < next_base);
    assert_eq!(
        head,
        cleaned
            .iter()
            .filter(|r| r.0 < next_base)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(
        tail,
        expected
            .iter()
            .filter(|r| r.0 >= next_base)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert_eq!(latest_by_key(&recovered), latest_by_key(&expected));
}

#[test]
fn a_truncated_log_is_dirty_again_from_the_cut() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    append(&log, &Batch::plain(&[(Some("a"), Some("1"))], 1000), 1000);
    pad(&log, "z", 8, 1001, 1000);
    append(&log, &Batch::plain(&[(Some("b"), Some("1"))], 1100), 1000);
    pad(&log, "z", 8, 1101, 1000);
    let out = log.clean(5000).expect("clean").expect("a pass");
    assert!(out.checkpoint > 10, "{out:?}");
    // A follower's divergence cuts the log at 9, below the checkpoint...
    log.truncate_to(9).expect("truncate");
    let end = log.log_end_offset();
    assert!(end <= 9, "{end}");
    let saved = std::fs::read_to_string(dir.path().join("cleaner-checkpoint")).expect("file");
    assert_eq!(saved.trim(), end.to_string());
    // ...and what is written after the cut is compacted by the next pass: the new "a"
    // replaces the one at 0.
    append(&log, &Batch::plain(&[(Some("a"), Some("2"))], 3000), 3000);
    pad(&log, "y", 8, 3001, 3000);
    log.clean(9000).expect("clean").expect("a pass");
    let a: Vec<_> = read_all(&log, 0)
        .into_iter()
        .filter(|r| r.1.as_deref() == Some("a"))
        .collect();
    assert_eq!(a, vec![(end, Some("a".into()), Some("2".into()))]);
}

#[test]
fn a_pass_on_a_deleted_and_recreated_directory_touches_nothing_of_the_new_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("t-0");
    let old = Log::open(&path, compacted(), false, 0).expect("open");
    ten_rounds_and_a_last(&old);
    // The topic is deleted and created again while the old log object lives on (a pass that
    // started before the deletion holds it).
    // (The old log's background flusher may still be writing its recovery point.)
    let mut tries = 0;
    while let Err(e) = std::fs::remove_dir_all(&path) {
        tries += 1;
        assert!(tries < 100, "delete: {e}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let new = Log::open(&path, compacted(), false, 0).expect("recreate");
    ten_rounds_and_a_last(&new);
    let before = read_all(&new, 0);
    let out = old.clean(5000).expect("the old pass fails nothing");
    assert!(out.is_none_or(|o| o.bytes_before == 0), "{out:?}");
    drop(new);
    let reopened = Log::open(&path, compacted(), false, 0).expect("reopen");
    reopened.set_high_watermark(reopened.log_end_offset());
    assert_eq!(read_all(&reopened, 0), before, "the new log is untouched");
}

#[test]
fn time_lookups_find_the_first_surviving_record_after_a_pass() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    // Batches of two records each (a<i>@t, b@t+1), then b again: the batches keep their `a`
    // only, so their max timestamp must come down to its.
    let keys: Vec<String> = (0..8).map(|i| format!("a{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        let recs = [(Some(key.as_str()), Some("x")), (Some("b"), Some("y"))];
        append(&log, &Batch::plain(&recs, 1000 + 10 * i as i64), 1000);
    }
    pad(&log, "b", 12, 2000, 1000);
    log.clean(5000).expect("clean").expect("a pass ran");
    let after = read_all(&log, 0);
    // Every timestamp from the first record's to past the last maps to the first surviving
    // record whose timestamp is at least it (the records' timestamps rise with their offsets).
    let stamps: Vec<(i64, i64)> = {
        let mut v = Vec::new();
        let mut at = 0;
        while at < log.high_watermark() {
            let r = log.read(at, 1 << 20, true).expect("read");
            let mut buf = r.records.clone();
            if buf.is_empty() {
                break;
            }
            while !buf.is_empty() {
                let h = BatchHeader::parse(&buf).expect("header");
                let mut one = buf.split_to(h.total_len());
                for rec in RecordBatchDecoder::decode(&mut one)
                    .expect("decode")
                    .records
                {
                    v.push((rec.offset, rec.timestamp));
                }
                at = h.last_offset() + 1;
            }
        }
        v
    };
    assert_eq!(stamps.len(), after.len());
    for ts in 990..2020 {
        let want = stamps.iter().find(|(_, t)| *t >= ts).copied();
        assert_eq!(
            log.offset_for_timestamp(ts).expect("lookup"),
            want,
            "ts {ts}"
        );
    }
    let (_, max_ts) = *stamps.iter().max_by_key(|(_, t)| *t).expect("records");
    assert_eq!(
        log.max_timestamp_offset().expect("max").map(|(_, t)| t),
        Some(max_ts)
    );
}

#[test]
fn a_pass_that_fails_leaves_no_copy_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), compacted(), false, 0).expect("open");
    ten_rounds_and_a_last(&log);
    log.clean(5000).expect("clean").expect("a first pass ran");
    // New dirty data, then damage a record in the first (clean) segment, which the next
    // pass copies: its batch no longer matches its CRC.
    ten_rounds_and_a_last(&log);
    let mut logs: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 100))
        .collect();
    logs.sort();
    let first = logs.first().expect("a non-empty segment").clone();
    let mut bytes = std::fs::read(&first).expect("read segment");
    let at = bytes.len() - 3;
    bytes[at] ^= 0xff;
    std::fs::write(&first, &bytes).expect("write segment");
    for _ in 0..3 {
        assert!(log.clean(5000).is_err(), "a corrupt batch fails the pass");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("cleaned") || n.ends_with("swap"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_last_stable_offset_never_stays_below_the_log_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), LogConfig::default(), false, 0).expect("open");
    pad(&log, "k", 3, 1000, 1000);
    let txn = Batch {
        producer_id: 9,
        seq: 0,
        transactional: true,
        ..Batch::plain(
            &[(Some("k"), Some("open")), (Some("k"), Some("open"))],
            1000,
        )
    };
    append(&log, &txn, 1000);
    pad(&log, "k", 2, 2000, 1000);
    assert_eq!(
        log.last_stable_offset(),
        3,
        "the open transaction starts at 3"
    );
    // DeleteRecords past the open transaction's first offset: the stable offset moves up with
    // the log start (a read_committed consumer resetting to it would otherwise be told it is
    // out of range, again and again).
    log.delete_records_before(4).expect("delete records");
    assert_eq!(log.log_start_offset(), 4);
    assert_eq!(log.last_stable_offset(), 4);
}
