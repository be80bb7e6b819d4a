//! The Rust SDK beyond the shared scenarios: balancers, payloads, tracing, errors, groups.

mod common;

use std::time::Duration;

use common::{Weir, unique};
use futures_util::StreamExt;
use weir_sdk::{
    Acks, Balancer, Context, Error, Message, OffsetReset, Reader, ReaderConfig, TopicSpec, Writer,
    WriterConfig,
};

fn ctx() -> Context {
    Context::background().with_timeout(Duration::from_secs(20))
}

async fn topic(w: &Weir, partitions: i32) -> String {
    let t = unique("sdk");
    w.admin()
        .create_topic(&TopicSpec::new(&t, partitions))
        .await
        .expect("create topic");
    t
}

fn partition_of(w: &Weir, t: &str, p: i32) -> ReaderConfig {
    let mut c = ReaderConfig::new(&w.kafka, t);
    c.partition = Some(p);
    c
}

#[tokio::test]
async fn hash_balancer_places_keys_where_java_does_and_round_robin_spreads() {
    let w = Weir::start(&[]);
    let t = topic(&w, 4).await;
    let keys = [
        "user-1",
        "user-2",
        "order-77",
        "x",
        "a much longer key than the others",
    ];
    let msgs = keys.iter().map(|k| Message::new("v").with_key(*k));
    let ds = w
        .writer(&t)
        .write_messages(&ctx(), msgs)
        .await
        .expect("write");
    for (k, d) in keys.iter().zip(&ds) {
        let java = (murmur2::murmur2(k.as_bytes(), 0x9747_b28c) & 0x7fff_ffff) % 4;
        assert_eq!(d.partition as u32, java, "key {k}");
    }

    let t2 = topic(&w, 4).await;
    let mut c = WriterConfig::new(&w.kafka).topic(&t2);
    c.balancer = Balancer::RoundRobin;
    let rr = Writer::new(c).expect("writer");
    let ds = rr
        .write_messages(
            &ctx(),
            (0..8).map(|i| Message::new(format!("{i}")).with_key("same")),
        )
        .await
        .expect("write");
    let mut per = [0; 4];
    for d in &ds {
        per[d.partition as usize] += 1;
    }
    assert_eq!(per, [2, 2, 2, 2]);

    let d = rr
        .write_message(&ctx(), Message::new("pinned").with_partition(3))
        .await
        .expect("explicit");
    assert_eq!(d.partition, 3);
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Order {
    id: u64,
    item: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Point {
    #[prost(int64, tag = "1")]
    x: i64,
    #[prost(string, tag = "2")]
    label: String,
}

#[tokio::test]
async fn json_and_protobuf_payloads_round_trip() {
    let w = Weir::start(&[]);
    let t = topic(&w, 1).await;
    let order = Order {
        id: 7,
        item: "tea".into(),
    };
    let point = Point {
        x: -3,
        label: "p".into(),
    };
    let msgs = [
        Message::json(&order).expect("json"),
        Message::protobuf(&point),
    ];
    w.writer(&t)
        .write_messages(&ctx(), msgs)
        .await
        .expect("write");
    let r = Reader::new(partition_of(&w, &t, 0)).await.expect("reader");
    let m = r.read_message(&ctx()).await.expect("read");
    assert_eq!(m.value_json::<Order>().expect("decode"), order);
    assert_eq!(m.header("content-type"), Some(&b"application/json"[..]));
    let m = r.read_message(&ctx()).await.expect("read");
    assert_eq!(m.value_protobuf::<Point>().expect("decode"), point);
    assert!(m.value_json::<Order>().is_err());
}

#[tokio::test]
async fn reader_lag_stream_pause_and_cancel() {
    let w = Weir::start(&[]);
    let t = topic(&w, 1).await;
    w.writer(&t)
        .write_messages(&ctx(), (0..10).map(|i| Message::new(format!("{i}"))))
        .await
        .expect("write");
    let r = Reader::new(partition_of(&w, &t, 0)).await.expect("reader");
    let first: Vec<i64> = r
        .stream()
        .take(3)
        .map(|m| m.expect("read").offset)
        .collect()
        .await;
    assert_eq!(first, [0, 1, 2]);
    let lag = r.lag().await.expect("lag");
    assert_eq!(
        (lag[0].position, lag[0].high_watermark, lag[0].lag),
        (3, 10, 7)
    );

    let parts = r.assignment();
    assert_eq!(parts, vec![(t.clone(), 0)]);
    r.pause(&parts).expect("pause");
    let short = Context::background().with_timeout(Duration::from_millis(700));
    assert!(matches!(
        r.read_message(&short).await,
        Err(Error::Timeout(_))
    ));
    r.resume(&parts).expect("resume");
    assert_eq!(r.read_message(&ctx()).await.expect("read").offset, 3);

    let c = Context::background();
    let canceller = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.cancel();
    });
    for _ in 4..10 {
        r.read_message(&ctx()).await.expect("drain");
    }
    assert!(matches!(r.read_message(&c).await, Err(Error::Cancelled)));
}

#[tokio::test]
async fn groups_are_listed_described_and_reset() {
    let w = Weir::start(&[]);
    let t = topic(&w, 2).await;
    let admin = w.admin();
    w.writer(&t)
        .write_messages(
            &ctx(),
            (0..6).map(|i| Message::new(format!("{i}")).with_partition(i % 2)),
        )
        .await
        .expect("write");
    let group = unique("g");
    let r = Reader::new(ReaderConfig::new(&w.kafka, &t).group(&group))
        .await
        .expect("reader");
    for _ in 0..6 {
        r.read_message(&ctx()).await.expect("read");
    }
    let g = admin.describe_group(&group).await.expect("describe");
    assert_eq!(g.state, "Stable");
    assert_eq!(g.members.len(), 1);
    let mut assigned = g.members[0].assignment.clone();
    assigned.sort();
    assert_eq!(assigned, vec![(t.clone(), 0), (t.clone(), 1)]);
    assert!(
        admin
            .list_groups()
            .await
            .expect("list")
            .iter()
            .any(|g| g.group_id == group)
    );
    assert!(matches!(
        admin.reset_offsets(&group, &t, OffsetReset::Earliest).await,
        Err(Error::GroupNotEmpty(_))
    ));
    r.close().await.expect("close");

    let lag = admin.group_lag(&group).await.expect("lag");
    assert_eq!(lag.iter().map(|l| l.lag).sum::<i64>(), 0, "{lag:?}");
    let moved = admin
        .reset_offsets(&group, &t, OffsetReset::Offset(1))
        .await
        .expect("reset");
    assert_eq!(moved, vec![(0, 1), (1, 1)]);
    let lag = admin.group_lag(&group).await.expect("lag");
    assert_eq!(lag.iter().map(|l| l.lag).sum::<i64>(), 4);
    admin
        .reset_offsets(&group, &t, OffsetReset::Timestamp(0))
        .await
        .expect("reset by time");
    let lag = admin.group_lag(&group).await.expect("lag");
    assert_eq!(lag.iter().map(|l| l.lag).sum::<i64>(), 6);
    admin.delete_group(&group).await.expect("delete group");
}

#[tokio::test]
async fn errors_say_what_went_wrong() {
    let w = Weir::start(&["--auto-create-topics", "false"]);
    assert!(matches!(
        Writer::new(WriterConfig::new("")),
        Err(Error::Config(_))
    ));
    let mut c = WriterConfig::new(&w.kafka);
    c.required_acks = Acks::Leader;
    assert!(matches!(Writer::new(c), Err(Error::Config(_))));

    let missing = unique("missing");
    // UnknownTopic rather than a Timeout: the writer does not wait out its write timeout.
    let err = Writer::new(WriterConfig::new(&w.kafka).topic(&missing))
        .expect("writer")
        .write_message(&ctx(), Message::new("x"))
        .await
        .expect_err("unknown topic");
    assert!(
        matches!(&err, Error::UnknownTopic(t) if *t == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("create it first"));

    let t = topic(&w, 1).await;
    let err = w
        .writer(&t)
        .write_messages(
            &ctx(),
            [
                Message::new("ok"),
                Message::new("nowhere").with_partition(9),
            ],
        )
        .await
        .expect_err("partial failure");
    match err {
        Error::Write { total, failed } => {
            assert_eq!(total, 2);
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].0, 1);
            assert!(matches!(
                failed[0].1,
                Error::UnknownPartition { partition: 9, .. }
            ));
        }
        other => panic!("expected Error::Write, got {other:?}"),
    }

    let admin = w.admin();
    assert!(matches!(
        admin.inspect_dead_letters(&missing, 0, 10).await,
        Err(Error::UnknownTopic(_))
    ));
    let api = admin
        .remove_plugin("no-such-plugin")
        .await
        .expect_err("404");
    assert!(matches!(api, Error::Api { status: 404, .. }), "{api:?}");
}
