//! Log-level tests on real files.

use kafka_protocol::records::Compression;

use crate::batch::test_util::{batch, producer_batch};
use crate::flusher::{RECOVERY_POINT_FILE, read_recovery_point};
use crate::*;

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

fn fill(log: &Log, n: usize, ts0: i64) -> Vec<AppendInfo> {
    (0..n)
        .map(|i| {
            let b = batch(
                &[&format!("v{i}"), "x"],
                ts0 + 10 * i as i64,
                Compression::None,
            );
            let info = log.append(&b, 0, ts0).expect("append");
            log.set_high_watermark(info.last_offset + 1);
            info
        })
        .collect()
}

#[test]
fn append_assigns_offsets_and_reads_back_across_segments() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    let infos = fill(&log, 20, 1000);
    assert_eq!(infos[0].base_offset, 0);
    assert_eq!(infos[19].last_offset, 39);
    assert!(
        log.segment_count() > 3,
        "small segment.bytes rolls segments"
    );
    for offset in [0, 1, 7, 20, 39] {
        let r = log.read(offset, 1 << 20, true).expect("read");
        let h = BatchHeader::parse(&r.records).expect("a batch");
        assert!(
            h.base_offset <= offset && offset <= h.last_offset(),
            "offset {offset} in {h:?}"
        );
        validate_batch(&r.records[..h.total_len()]).expect("served bytes are a valid batch");
    }
    let r = log.read(40, 1 << 20, true).expect("read at end");
    assert!(r.records.is_empty());
    assert!(matches!(
        log.read(41, 100, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // max_bytes smaller than one batch still returns one batch; zero when not min_one.
    assert!(!log.read(0, 1, true).expect("read").records.is_empty());
    assert!(log.read(0, 1, false).expect("read").records.is_empty());
}

#[test]
fn timestamps_are_looked_up_per_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    fill(&log, 10, 1000); // batch i holds ts 1000+10i and 1001+10i at offsets 2i, 2i+1
    assert_eq!(log.offset_for_timestamp(1001).expect("ts"), Some((1, 1001)));
    assert_eq!(
        log.offset_for_timestamp(1045).expect("ts"),
        Some((10, 1050))
    );
    assert_eq!(log.offset_for_timestamp(99_999).expect("ts"), None);
    assert_eq!(log.max_timestamp_offset().expect("max"), Some((19, 1091)));
}

#[test]
fn restart_clean_and_after_torn_tail() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
        fill(&log, 12, 1000);
        log.close().expect("close");
    }
    let log = Log::open(dir.path(), small_segments(), true, 0).expect("reopen clean");
    assert_eq!(log.log_end_offset(), 24);
    drop(log);
    // Tear the last batch of the active segment in half, as a crash mid-write would.
    tear(segment_files(dir.path()).last().expect("segment"));
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("recover");
    assert_eq!(
        log.log_end_offset(),
        22,
        "the torn batch is gone, the rest kept"
    );
    let again = log
        .append(&batch(&["after"], 5, Compression::None), 0, 0)
        .expect("append");
    assert_eq!(again.base_offset, 22);
    log.set_high_watermark(23);
    let r = log.read(22, 1 << 20, true).expect("read");
    assert_eq!(BatchHeader::parse(&r.records).expect("h").base_offset, 22);
}

/// A rolled segment keeps only its log open. Its indexes answer from memory, are on disk for a
/// restart, and are written again once a truncation makes the segment the active one.
#[test]
fn rolled_segments_close_their_index_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    fill(&log, 20, 1000); // batch i: offsets 2i and 2i+1, timestamps 1000+10i and 1001+10i
    assert!(log.segment_count() > 3);
    assert_eq!(
        log.open_index_files(),
        2,
        "only the active segment's two indexes"
    );
    assert_eq!(log.offset_for_timestamp(1001).expect("ts"), Some((1, 1001)));
    let r = log.read(7, 1 << 20, true).expect("read");
    let h = BatchHeader::parse(&r.records).expect("a batch");
    assert!(h.base_offset <= 7 && 7 <= h.last_offset(), "{h:?}");

    // Back into the first segment: it is the active one again and indexes what comes next.
    log.truncate_to(6).expect("truncate");
    assert_eq!(log.segment_count(), 1);
    for i in 0..10 {
        let info = log
            .append(
                &batch(&[&format!("w{i}"), "x"], 5000 + 10 * i, Compression::None),
                0,
                0,
            )
            .expect("append");
        log.set_high_watermark(info.last_offset + 1);
    }
    assert!(log.segment_count() > 1);
    assert_eq!(log.open_index_files(), 2);
    log.close().expect("close");
    drop(log);

    for clean in [true, false] {
        let log = Log::open(dir.path(), small_segments(), clean, 0).expect("reopen");
        assert_eq!(log.log_end_offset(), 26);
        assert_eq!(log.open_index_files(), 2, "clean: {clean}");
        assert_eq!(log.offset_for_timestamp(1021).expect("ts"), Some((5, 1021)));
        assert_eq!(
            log.offset_for_timestamp(5031).expect("ts"),
            Some((13, 5031))
        );
        assert_eq!(log.max_timestamp_offset().expect("max"), Some((25, 5091)));
        log.close().expect("close");
    }
}

/// A write that failed part way (a full disk) can leave part of a batch after the last whole
/// one. A start that trusts its indexes (after a clean shutdown) must not read that as a batch
/// nor append after it: the part is cut and the log goes on at the same offset.
#[test]
fn a_partial_batch_after_a_clean_shutdown_is_cut() {
    use std::io::Write;
    let partial = batch(&["partial", "batch"], 9000, Compression::None);
    // Half a batch (its header whole, its length past the end), and less than a header.
    for cut in [partial.len() / 2, 10] {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
            fill(&log, 3, 1000);
            log.close().expect("close");
        }
        let active = segment_files(dir.path()).pop().expect("segment");
        let before = std::fs::metadata(&active).expect("meta").len();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&active)
            .expect("open log file")
            .write_all(&partial[..cut])
            .expect("write part of a batch");
        let log = Log::open(dir.path(), small_segments(), true, 0).expect("reopen");
        assert_eq!(log.log_end_offset(), 6, "cut {cut}");
        assert_eq!(std::fs::metadata(&active).expect("meta").len(), before);
        let next = log
            .append(&batch(&["next"], 2000, Compression::None), 0, 0)
            .expect("append");
        assert_eq!(next.base_offset, 6);
        log.set_high_watermark(7);
        let r = log.read(6, 1 << 20, true).expect("read");
        let h = validate_batch(&r.records).expect("a valid batch");
        assert_eq!((h.base_offset, h.max_timestamp), (6, 2000));
    }
}

fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

fn base_of(path: &std::path::Path) -> i64 {
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
    stem.parse().expect("a base offset")
}

/// Cuts the last 10 bytes off a segment file.
fn tear(path: &std::path::Path) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    let len = f.metadata().expect("meta").len();
    f.set_len(len - 10).expect("tear");
}

#[test]
fn rolled_segments_are_synced_in_the_background_and_the_recovery_point_follows() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    fill(&log, 12, 1000);
    let logs = segment_files(dir.path());
    assert!(logs.len() > 2, "small segment.bytes rolls segments");
    // Without any close: the background sync records a recovery point past rolled segments.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while read_recovery_point(dir.path()).is_none_or(|p| p <= 0) {
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery point was recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // A clean close waits for every rolled segment: the point is the active segment's base.
    log.close().expect("close");
    let active = logs.last().expect("active");
    assert_eq!(read_recovery_point(dir.path()), Some(base_of(active)));
}

#[test]
fn truncating_below_the_recovery_point_lowers_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    fill(&log, 12, 1000);
    log.close().expect("close");
    let before = read_recovery_point(dir.path()).expect("a recovery point");
    assert!(before > 2);
    // A follower cuts its log back: what it appends next lands in a segment that was rolled
    // (and so would not be re-validated) unless the recovery point comes down with it.
    log.truncate_to(2).expect("truncate");
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(read_recovery_point(dir.path()), Some(0));
    log.restart_at(50).expect("restart");
    assert_eq!(read_recovery_point(dir.path()), Some(50));
}

#[test]
fn unclean_open_revalidates_rolled_segments_past_the_recovery_point() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
        fill(&log, 12, 1000);
        log.close().expect("close");
    }
    let logs = segment_files(dir.path());
    assert!(logs.len() > 2);
    let first_end = base_of(&logs[1]);
    // As if the machine crashed before any rolled segment reached the disk, and the first one
    // lost the end of its last batch.
    std::fs::write(dir.path().join(RECOVERY_POINT_FILE), "0").expect("write");
    tear(&logs[0]);
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("recover");
    assert_eq!(
        log.log_end_offset(),
        first_end - 2,
        "the first segment's torn batch is cut"
    );
    assert_eq!(
        log.segment_count(),
        1,
        "the segments after the torn one are deleted, leaving no gap"
    );
    assert_eq!(segment_files(dir.path()).len(), 1);
    let again = log
        .append(&batch(&["after"], 5, Compression::None), 0, 0)
        .expect("append");
    assert_eq!(again.base_offset, first_end - 2);
}

#[test]
fn corrupt_middle_of_active_segment_is_cut_on_recovery() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let log = Log::open(dir.path(), LogConfig::default(), false, 0).expect("open");
        fill(&log, 5, 1000);
    }
    let seg = dir.path().join(format!("{:020}.log", 0));
    let mut raw = std::fs::read(&seg).expect("read");
    let third = 2 * (raw.len() / 5) + 70;
    raw[third] ^= 0xff;
    std::fs::write(&seg, raw).expect("write");
    std::fs::remove_file(dir.path().join(format!("{:020}.index", 0))).expect("rm index");
    let log = Log::open(dir.path(), LogConfig::default(), false, 0).expect("recover");
    assert_eq!(
        log.log_end_offset(),
        4,
        "batches 0 and 1 survive, the corrupt one and after are cut"
    );
}

#[test]
fn retention_by_time_size_and_delete_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    fill(&log, 20, 1000);
    let segs = log.segment_count();
    log.set_config(LogConfig {
        retention_ms: 1000,
        ..small_segments()
    });
    // Nothing is older than 1 s at t=1500.
    assert_eq!(
        log.enforce_retention(1500).expect("ret").deleted_segments,
        0
    );
    // Everything is at t=10_000: all closed segments go, the active one is rolled first.
    let out = log.enforce_retention(10_000).expect("ret");
    assert_eq!(out.deleted_segments, segs);
    assert_eq!(log.log_start_offset(), 40);
    assert_eq!(log.log_end_offset(), 40);

    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    fill(&log, 20, 1000);
    log.set_config(LogConfig {
        retention_bytes: 500,
        retention_ms: -1,
        ..small_segments()
    });
    log.enforce_retention(2000).expect("ret");
    assert!(
        log.size_bytes() <= 500 + 400,
        "at most retention.bytes plus the active segment"
    );
    assert!(log.log_start_offset() > 0);

    let start = log.delete_records_before(35).expect("delete");
    assert_eq!(start, 35);
    assert!(matches!(
        log.read(34, 100, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert!(!log.read(35, 100, true).expect("read").records.is_empty());
    assert!(
        log.delete_records_before(41).is_err(),
        "beyond the high watermark"
    );
    drop(log);
    let log = Log::open(dir.path(), small_segments(), true, 0).expect("reopen");
    assert_eq!(log.log_start_offset(), 35, "log start offset is durable");
}

#[test]
fn log_append_time_and_truncation() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = LogConfig {
        log_append_time: true,
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), cfg, false, 0).expect("open");
    let info = log
        .append(&batch(&["a", "b"], 5, Compression::Gzip), 3, 777)
        .expect("append");
    log.set_high_watermark(2);
    assert_eq!(info.log_append_time, 777);
    let r = log.read(0, 1 << 20, true).expect("read");
    let h = validate_batch(&r.records).expect("crc redone");
    assert_eq!((h.max_timestamp, h.leader_epoch), (777, 3));
    log.append(&batch(&["c"], 5, Compression::None), 4, 800)
        .expect("append");
    assert_eq!(log.latest_epoch(), Some((4, 2)));
    log.truncate_to(2).expect("truncate");
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.latest_epoch(), Some((3, 0)));
}

#[test]
fn rejects_bad_batches_without_appending() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(
        dir.path(),
        LogConfig {
            max_message_bytes: 100,
            ..LogConfig::default()
        },
        false,
        0,
    )
    .expect("open");
    let big = batch(&[&"x".repeat(500)], 0, Compression::None);
    assert!(matches!(
        log.append(&big, 0, 0),
        Err(Error::BatchTooLarge { .. })
    ));
    let mut bad = batch(&["y"], 0, Compression::None).to_vec();
    let n = bad.len();
    bad[n - 2] ^= 1;
    assert_eq!(
        log.append(&bad, 0, 0).map_err(|e| e.kafka_code()).err(),
        Some(2)
    );
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn idempotent_retries_are_deduplicated_and_state_survives_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let b =
        |seq: i32, epoch: i16| producer_batch(&["a", "b"], 1000, Compression::None, 42, epoch, seq);
    {
        let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
        let first = log.append(&b(0, 0), 0, 0).expect("first");
        assert_eq!((first.base_offset, first.duplicate), (0, false));
        let retry = log.append(&b(0, 0), 0, 0).expect("retry");
        assert_eq!(
            (retry.base_offset, retry.last_offset, retry.duplicate),
            (0, 1, true)
        );
        assert_eq!(log.log_end_offset(), 2, "the retry was not appended again");
        assert_eq!(
            log.append(&b(4, 0), 0, 0).map_err(|e| e.kafka_code()).err(),
            Some(45),
            "gap"
        );
        for i in 1..10 {
            log.append(&b(2 * i, 0), 0, 0).expect("in sequence");
        }
        assert!(log.segment_count() > 1, "rolled, so a snapshot was written");
        log.close().expect("close");
    }
    {
        // Clean restart: snapshot plus the tail.
        let log = Log::open(dir.path(), small_segments(), true, 0).expect("reopen");
        assert!(
            log.append(&b(18, 0), 0, 0)
                .expect("dup after restart")
                .duplicate
        );
        assert_eq!(log.append(&b(20, 0), 0, 0).expect("next").base_offset, 20);
        assert_eq!(
            log.append(&b(0, -1), 0, 0)
                .map_err(|e| e.kafka_code())
                .err(),
            Some(47),
            "old epoch"
        );
    }
    // Crash: no close, and the snapshot is gone; the headers alone rebuild the state.
    std::fs::remove_file(dir.path().join("producer-state")).expect("rm snapshot");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("recover");
    assert!(
        log.append(&b(20, 0), 0, 0)
            .expect("dup after crash")
            .duplicate
    );
    assert_eq!(
        log.append(&b(0, 1), 0, 0).expect("new epoch").base_offset,
        22
    );
}

/// A follower copies the leader's batches as they are, epochs included; the leader answers
/// OffsetForLeaderEpoch from its epoch cache, and a follower that diverged truncates to it.
#[test]
fn replica_append_copies_the_leader_and_epochs_locate_divergence() {
    let dir = tempfile::tempdir().expect("tmp");
    let leader =
        Log::open(&dir.path().join("leader"), LogConfig::default(), false, 0).expect("open");
    let follower =
        Log::open(&dir.path().join("follower"), LogConfig::default(), false, 0).expect("open");
    for (i, epoch) in [0, 0, 1, 1, 3].into_iter().enumerate() {
        let b = batch(&[&format!("v{i}"), "x"], 1000, Compression::None);
        leader.append(&b, epoch, 1000).expect("append");
    }
    assert_eq!(leader.log_end_offset(), 10);
    // Uncommitted: the follower reads past the high watermark; a consumer does not.
    assert!(
        leader
            .read(0, 1 << 20, true)
            .expect("read")
            .records
            .is_empty()
    );
    let all = leader
        .read_replica(0, 1 << 20)
        .expect("replica read")
        .records;
    assert_eq!(follower.append_replica(&all, 2000).expect("copy"), 10);
    assert_eq!(follower.latest_epoch(), Some((3, 8)));
    // A repeated fetch appends nothing twice.
    assert_eq!(follower.append_replica(&all, 2000).expect("again"), 10);
    assert_eq!(follower.log_end_offset(), 10);
    assert_eq!(
        follower.read_replica(0, 1 << 20).expect("read").records,
        all,
        "the follower's bytes are the leader's"
    );

    assert_eq!(leader.end_offset_for_epoch(0), (0, 4));
    assert_eq!(leader.end_offset_for_epoch(1), (1, 8));
    assert_eq!(
        leader.end_offset_for_epoch(2),
        (1, 8),
        "no epoch 2: epoch 1 ends at 8"
    );
    assert_eq!(leader.end_offset_for_epoch(3), (3, 10));
    leader.start_epoch(5).expect("new epoch");
    assert_eq!(leader.end_offset_for_epoch(3), (3, 10));
    assert_eq!(leader.end_offset_for_epoch(5), (5, 10));

    // The leader loses its tail (it was never committed) and writes on in epoch 4.
    leader.truncate_to(8).expect("truncate");
    leader
        .append(&batch(&["new"], 1000, Compression::None), 4, 1000)
        .expect("append");
    let (epoch, end) = leader.end_offset_for_epoch(3);
    assert_eq!(
        (epoch, end),
        (1, 8),
        "epoch 3 is gone from the leader's history"
    );
    follower.truncate_to(end).expect("follower truncates");
    assert_eq!(follower.log_end_offset(), 8);
    let rest = leader.read_replica(8, 1 << 20).expect("read").records;
    follower.append_replica(&rest, 3000).expect("catch up");
    assert_eq!(follower.latest_epoch(), Some((4, 8)));
    assert_eq!(follower.log_end_offset(), leader.log_end_offset());

    // A batch that overlaps the log end is refused, not written twice.
    let overlap = leader.read_replica(6, 1 << 20).expect("read").records;
    let f2 = Log::open(&dir.path().join("f2"), LogConfig::default(), false, 0).expect("open");
    f2.append_replica(&leader.read_replica(0, 1 << 20).expect("r").records[..0], 0)
        .expect("empty is fine");
    f2.append(
        &batch(&["a", "b", "c", "d", "e", "f", "g"], 1, Compression::None),
        0,
        1,
    )
    .expect("seven records");
    assert!(f2.append_replica(&overlap, 0).is_err());

    // restart_at: a follower behind the leader's log start starts over there.
    follower.restart_at(100).expect("restart");
    assert_eq!(follower.log_start_offset(), 100);
    assert_eq!(follower.log_end_offset(), 100);
    assert_eq!(follower.latest_epoch(), None);
}

/// What a read of `offset` must serve, found by walking every batch of `log` in memory: the
/// batch holding `offset`, then whole batches while they fit in `max_bytes` (the first one
/// regardless when `min_one`) and start below `upper`. Returns (position, length).
fn walked_read(
    log: &[u8],
    offset: i64,
    max_bytes: usize,
    min_one: bool,
    upper: i64,
) -> (usize, usize) {
    let mut pos = 0;
    while let Some(h) = BatchHeader::parse(&log[pos..]) {
        if h.last_offset() >= offset {
            break;
        }
        pos += h.total_len();
    }
    let mut end = pos;
    while let Some(h) = BatchHeader::parse(&log[end..]) {
        let next = end + h.total_len();
        let fits = next - pos <= max_bytes || (min_one && end == pos);
        if h.base_offset >= upper || !fits {
            break;
        }
        end = next;
    }
    (pos, end - pos)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    /// Reads are located from the index and a few headers (the records are not read): they
    /// must end on the same batch boundary as a walk over every batch, for small batches
    /// (many between index entries), batches larger than the final read window, any index
    /// interval, and a high watermark below the log end.
    #[test]
    fn reads_end_where_a_walk_of_every_batch_ends(
        batches in proptest::collection::vec((1usize..12, 1usize..4000), 1..60),
        interval in proptest::prop_oneof![proptest::strategy::Just(1u64), 50u64..20_000],
        unreplicated in 0usize..5,
        reads in proptest::collection::vec((0usize..400, 0usize..120_000, proptest::bool::ANY), 1..12),
    ) {
        let dir = tempfile::tempdir().expect("tmp");
        let config = LogConfig { index_interval_bytes: interval, ..LogConfig::default() };
        let log = Log::open(dir.path(), config, false, 0).expect("open");
        let replicated = batches.len().saturating_sub(unreplicated).max(1);
        for (i, &(records, len)) in batches.iter().enumerate() {
            let value = "v".repeat(len);
            let values = vec![value.as_str(); records];
            let info = log.append(&batch(&values, 1000, Compression::None), 0, 1000).expect("append");
            if i < replicated {
                log.set_high_watermark(info.last_offset + 1);
            }
        }
        let whole = log.read_replica(0, usize::MAX).expect("whole log").records;
        let hwm = log.high_watermark();
        for (offset, max_bytes, min_one) in reads {
            let offset = (offset as i64).min(log.log_end_offset());
            let got = log.read(offset, max_bytes, min_one).expect("read").records;
            let (pos, len) = walked_read(&whole, offset, max_bytes, min_one, hwm);
            proptest::prop_assert_eq!(got.len(), len, "offset {} max {} min_one {}", offset, max_bytes, min_one);
            proptest::prop_assert_eq!(&got[..], &whole[pos..pos + len]);
            let replica = log.read_replica(offset, max_bytes).expect("replica read").records;
            let (pos, len) = walked_read(&whole, offset, max_bytes, true, i64::MAX);
            proptest::prop_assert_eq!(&replica[..], &whole[pos..pos + len]);
        }
    }
}

#[test]
fn a_slice_stays_readable_after_its_segment_is_deleted() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Log::open(dir.path(), small_segments(), false, 0).expect("open");
    fill(&log, 20, 1000);
    let slice = log
        .slice_isolated(0, 1 << 20, true, false)
        .expect("slice")
        .records;
    let expected = log.read(0, 1 << 20, true).expect("read").records;
    assert!(!slice.is_empty());
    log.delete_records_before(39).expect("delete records");
    assert!(
        !segment_files(dir.path()).iter().any(|p| base_of(p) == 0),
        "the first segment was deleted"
    );
    assert_eq!(slice.read().expect("read the deleted segment"), expected);
}
