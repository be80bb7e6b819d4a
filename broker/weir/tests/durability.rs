//! Restarts, crashes and retention against the real binary and real files.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Weir, consume, runtime};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;

const T: Duration = Duration::from_secs(15);

#[test]
fn clean_restart_keeps_every_record() {
    let mut weir = Weir::start(&["--num-partitions", "3"]);
    let rt = runtime();
    let producer = weir.producer(&[("linger.ms", "2"), ("compression.type", "lz4")]);
    rt.block_on(async {
        let kv: Vec<(String, String)> = (0..1000)
            .map(|i| (i.to_string(), format!("v{i}")))
            .collect();
        let fs: Vec<_> = kv
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                producer.send(
                    FutureRecord::to("keep")
                        .partition(i as i32 % 3)
                        .key(k)
                        .payload(v),
                    T,
                )
            })
            .collect();
        for f in fs {
            f.await.expect("delivered");
        }
    });
    drop(producer);
    weir.stop();
    weir.restart();
    let c = weir.consumer();
    let mut seen = 0;
    for p in 0..3 {
        let n = (1000 + 2 - p as usize) / 3;
        let msgs = consume(&c, "keep", p, 0, n);
        for (j, m) in msgs.iter().enumerate() {
            let i = p as usize + 3 * j;
            assert_eq!(m.payload(), Some(format!("v{i}").as_bytes()));
            seen += 1;
        }
        assert_eq!(c.fetch_watermarks("keep", p, T).expect("wm"), (0, n as i64));
    }
    assert_eq!(seen, 1000);
    // Producing after the restart continues the offsets.
    let producer = weir.producer(&[]);
    let d = rt
        .block_on(
            producer.send(
                FutureRecord::to("keep")
                    .partition(0)
                    .key("k")
                    .payload("after"),
                T,
            ),
        )
        .expect("produce after restart");
    assert_eq!(d.offset, 334);
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_record() {
    let mut weir = Weir::start(&["--log-flush-messages", "1"]);
    let rt = runtime();
    let acked: Arc<Mutex<BTreeMap<i64, String>>> = Arc::default();
    let producer = weir.producer(&[
        ("acks", "1"),
        ("linger.ms", "1"),
        ("retries", "0"),
        ("message.timeout.ms", "3000"),
    ]);
    let stop_at = Instant::now() + Duration::from_millis(1500);
    rt.block_on(async {
        let mut i = 0u64;
        let mut inflight = Vec::new();
        loop {
            let value = format!("record-{i}-{}", "p".repeat((i % 200) as usize));
            let fut = producer.send_result(FutureRecord::to("crash").key("k").payload(&value));
            if let Ok(f) = fut {
                inflight.push((value, f));
            }
            i += 1;
            if inflight.len() >= 50 {
                for (v, f) in inflight.drain(..) {
                    if let Ok(Ok(d)) = f.await {
                        acked.lock().expect("lock").insert(d.offset, v);
                    }
                }
            }
            if Instant::now() >= stop_at {
                break;
            }
        }
        // Crash with requests in flight.
        weir.kill9();
        for (v, f) in inflight {
            if let Ok(Ok(d)) = f.await {
                acked.lock().expect("lock").insert(d.offset, v);
            }
        }
    });
    drop(producer);
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 100,
        "the load produced only {} records",
        acked.len()
    );

    // Also tear the tail by hand, as a crash mid-write would: half a batch header of garbage.
    let seg = std::fs::read_dir(weir.data.join("crash-0"))
        .expect("partition dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max()
        .expect("segment");
    let mut raw = std::fs::read(&seg).expect("read");
    raw.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 0xde, 0xad]);
    std::fs::write(&seg, raw).expect("write");

    weir.restart();
    let c = weir.consumer();
    let (low, high) = c.fetch_watermarks("crash", 0, T).expect("wm");
    assert_eq!(low, 0);
    let last_acked = *acked.keys().last().expect("some");
    assert!(
        high > last_acked,
        "high watermark {high} must cover the last acknowledged offset {last_acked}"
    );
    let all = consume(&c, "crash", 0, 0, high as usize);
    for (i, m) in all.iter().enumerate() {
        assert_eq!(m.offset(), i as i64, "offsets are dense after recovery");
    }
    for (off, v) in &acked {
        assert_eq!(
            all[*off as usize].payload(),
            Some(v.as_bytes()),
            "acknowledged offset {off}"
        );
    }
    // Nothing past the recovered end is served; new writes continue right after it.
    let producer = weir.producer(&[]);
    let d = rt
        .block_on(producer.send(FutureRecord::to("crash").key("k").payload("after"), T))
        .expect("produce after recovery");
    assert_eq!(d.offset, high);
}

#[test]
fn retention_deletes_old_segments() {
    let weir = Weir::start(&["--log-retention-check-interval-ms", "100"]);
    let rt = runtime();
    let admin = weir.admin();
    rt.block_on(async {
        let r = admin
            .create_topics(
                &[NewTopic::new("short", 1, TopicReplication::Fixed(1))
                    .set("retention.ms", "300")
                    .set("segment.bytes", "1024")],
                &AdminOptions::new(),
            )
            .await
            .expect("create");
        assert!(r[0].is_ok());
        let producer = weir.producer(&[("linger.ms", "0")]);
        for i in 0..50 {
            producer
                .send(
                    FutureRecord::to("short")
                        .key("k")
                        .payload(&"r".repeat(100 + i)),
                    T,
                )
                .await
                .expect("produce");
        }
    });
    let c = weir.consumer();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (low, high) = c.fetch_watermarks("short", 0, T).expect("wm");
        assert_eq!(high, 50);
        if low == 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not advance the log start (low={low})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let files = std::fs::read_dir(weir.data.join("short-0"))
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .count();
    assert_eq!(files, 1, "only the (empty) active segment remains");
}

/// Group membership survives a clean restart and a crash, as Kafka reloads it from
/// `__consumer_offsets`: the member heartbeats on at its generation with no rejoin (no
/// rebalance) and SyncGroup still hands it its assignment. A group whose members all left comes
/// back Empty, with its protocol type and generation.
#[test]
fn group_membership_survives_restarts_without_a_rebalance() {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::messages::{
        ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, HeartbeatRequest,
        HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
        LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
    };
    use kafka_protocol::protocol::{Decodable, StrBytes};

    let mut w = Weir::start(&["--group-initial-rebalance-delay-ms", "0"]);
    w.create_topic("members", 1);
    let group = || GroupId(StrBytes::from_static_str("kept"));
    let connect = |w: &Weir| common::raw_connect(&w.kafka, T).expect("connect");
    let join = |s: &mut std::net::TcpStream, member: &StrBytes| {
        let req = JoinGroupRequest::default()
            .with_group_id(group())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(member.clone())
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(bytes::Bytes::from_static(b"subscription")),
            ]);
        let mut b = common::raw_roundtrip(s, ApiKey::JoinGroup, 5, &req).expect("join answer");
        JoinGroupResponse::decode(&mut b, 5).expect("decode")
    };
    let sync = |s: &mut std::net::TcpStream, member: &StrBytes, generation: i32, give: bool| {
        let req = SyncGroupRequest::default()
            .with_group_id(group())
            .with_generation_id(generation)
            .with_member_id(member.clone())
            .with_assignments(if give {
                vec![
                    SyncGroupRequestAssignment::default()
                        .with_member_id(member.clone())
                        .with_assignment(bytes::Bytes::from_static(b"members-0")),
                ]
            } else {
                Vec::new()
            });
        let mut b = common::raw_roundtrip(s, ApiKey::SyncGroup, 3, &req).expect("sync answer");
        SyncGroupResponse::decode(&mut b, 3).expect("decode")
    };
    let heartbeat = |s: &mut std::net::TcpStream, member: &StrBytes, generation: i32| {
        let req = HeartbeatRequest::default()
            .with_group_id(group())
            .with_generation_id(generation)
            .with_member_id(member.clone());
        let mut b = common::raw_roundtrip(s, ApiKey::Heartbeat, 3, &req).expect("answer");
        HeartbeatResponse::decode(&mut b, 3)
            .expect("decode")
            .error_code
    };

    let mut s = connect(&w);
    let required = join(&mut s, &StrBytes::default());
    assert_eq!(required.error_code, 79, "MEMBER_ID_REQUIRED: {required:?}");
    let member = required.member_id;
    let joined = join(&mut s, &member);
    assert_eq!(joined.error_code, 0, "{joined:?}");
    let generation = joined.generation_id;
    let synced = sync(&mut s, &member, generation, true);
    assert_eq!(
        (synced.error_code, &synced.assignment[..]),
        (0, &b"members-0"[..])
    );
    assert_eq!(
        common::raw_commit_offset(
            &mut s,
            "kept",
            (generation, member.as_str()),
            ("members", 0),
            0
        ),
        0
    );

    for crash in [false, true] {
        drop(s);
        if crash {
            w.kill9();
        } else {
            w.stop();
        }
        w.restart();
        s = connect(&w);
        assert_eq!(
            heartbeat(&mut s, &member, generation),
            0,
            "the member is known at its generation after a {}",
            if crash { "crash" } else { "restart" }
        );
        let again = sync(&mut s, &member, generation, false);
        assert_eq!(
            (again.error_code, &again.assignment[..]),
            (0, &b"members-0"[..]),
            "the assignment is kept"
        );
        let req = DescribeGroupsRequest::default().with_groups(vec![group()]);
        let mut b = common::raw_roundtrip(&mut s, ApiKey::DescribeGroups, 5, &req).expect("answer");
        let described = DescribeGroupsResponse::decode(&mut b, 5).expect("decode");
        let g = &described.groups[0];
        assert_eq!(
            (g.group_state.as_str(), g.protocol_data.as_str()),
            ("Stable", "range"),
            "{described:?}"
        );
        assert_eq!(g.members.len(), 1, "{described:?}");
        assert_eq!(g.members[0].member_id, member);
    }

    // The member leaves; the group (it has an offset) comes back Empty after a restart, still
    // a consumer group, and the next generation follows the last one.
    let req = LeaveGroupRequest::default()
        .with_group_id(group())
        .with_members(vec![
            MemberIdentity::default().with_member_id(member.clone()),
        ]);
    let mut b = common::raw_roundtrip(&mut s, ApiKey::LeaveGroup, 3, &req).expect("answer");
    let left = LeaveGroupResponse::decode(&mut b, 3).expect("decode");
    assert_eq!(left.error_code, 0, "{left:?}");
    drop(s);
    w.stop();
    w.restart();
    let mut s = connect(&w);
    assert_eq!(
        common::raw_listed_group(&mut s, "kept"),
        Some(("consumer".into(), "Empty".into()))
    );
    assert_eq!(
        heartbeat(&mut s, &member, generation),
        25,
        "UNKNOWN_MEMBER_ID: it left"
    );
    let required = join(&mut s, &StrBytes::default());
    let rejoined = join(&mut s, &required.member_id);
    assert_eq!(rejoined.error_code, 0, "{rejoined:?}");
    assert!(
        rejoined.generation_id > generation + 1,
        "generation {} follows {generation} and the leave",
        rejoined.generation_id
    );
}

/// Copies a partition directory's files (it has no subdirectories).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
    }
}

#[test]
fn a_deletion_cut_short_by_a_crash_is_finished_at_the_next_start() {
    let mut weir = Weir::start(&[]);
    weir.create_topic("doomed", 2);
    weir.create_topic("kept", 1);
    let rt = runtime();
    let producer = weir.producer(&[]);
    for (topic, partition) in [("doomed", 0), ("doomed", 1), ("kept", 0)] {
        rt.block_on(
            producer.send(
                FutureRecord::to(topic)
                    .partition(partition)
                    .key("k")
                    .payload("v"),
                T,
            ),
        )
        .expect("delivered");
    }
    drop(producer);
    weir.stop();
    // What a crash between the deletion's metadata change and the removal of the files leaves:
    // the partition's directory, put back after the deletion.
    let saved = weir.data.parent().expect("tmp").join("doomed-0.saved");
    copy_dir(&weir.data.join("doomed-0"), &saved);
    weir.restart();
    let admin = weir.admin();
    for r in rt
        .block_on(admin.delete_topics(&["doomed"], &AdminOptions::new()))
        .expect("delete")
    {
        r.expect("deleted");
    }
    weir.kill9();
    assert!(!weir.data.join("doomed-0").exists());
    copy_dir(&saved, &weir.data.join("doomed-0"));

    weir.restart();
    assert!(
        !weir.data.join("doomed-0").exists(),
        "the deleted topic's directory is removed at start"
    );
    let c = weir.consumer();
    let kept = consume(&c, "kept", 0, 0, 1);
    assert_eq!(kept[0].payload(), Some(&b"v"[..]));
    // The name is free, and a topic made under it starts empty.
    weir.create_topic("doomed", 2);
    for p in 0..2 {
        assert_eq!(c.fetch_watermarks("doomed", p, T).expect("wm"), (0, 0));
    }
}
