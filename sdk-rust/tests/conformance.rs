//! The SDK conformance scenarios (sdk-rust/conformance/SCENARIOS.md), against a real broker.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use common::{Weir, plugin, unique};
use weir_sdk::{
    Context, Error, FIRST_OFFSET, Header, Message, PluginOptions, Reader, ReaderConfig, TopicSpec,
};

fn ctx() -> Context {
    Context::background().with_timeout(Duration::from_secs(20))
}

async fn topic(w: &Weir, partitions: i32) -> String {
    let t = unique("conf");
    w.admin()
        .create_topic(&TopicSpec::new(&t, partitions))
        .await
        .expect("create topic");
    t
}

async fn write_n(w: &Weir, topic: &str, n: usize) {
    let msgs = (0..n).map(|i| Message::new(format!("m{i}")).with_key(format!("k{i}")));
    w.writer(topic)
        .write_messages(&ctx(), msgs)
        .await
        .expect("write");
}

/// Deploys the `rejecter` test plugin under a unique name.
async fn deploy_rejecter(admin: &weir_sdk::Admin) -> String {
    let name = unique("rejecter");
    admin
        .deploy_plugin(&name, plugin("rejecter"), &PluginOptions::default())
        .await
        .expect("deploy");
    name
}

fn partition_reader(w: &Weir, topic: &str) -> ReaderConfig {
    let mut c = ReaderConfig::new(&w.kafka, topic);
    c.partition = Some(0);
    c
}

#[tokio::test]
async fn conformance_produce_key_headers() {
    let w = Weir::start(&[]);
    let t = topic(&w, 1).await;
    let mut msg = Message::new("v1")
        .with_key("k1")
        .with_header("a", "1")
        .with_header("b", "2")
        .with_header("a", "3");
    msg.headers.push(Header {
        key: "nothing".into(),
        value: None,
    });
    let d = w
        .writer(&t)
        .write_message(&ctx(), msg)
        .await
        .expect("write");
    let r = Reader::new(partition_reader(&w, &t)).await.expect("reader");
    let m = r.read_message(&ctx()).await.expect("read");
    assert_eq!((m.partition, m.offset), (Some(d.partition), d.offset));
    assert_eq!(m.key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(m.value.as_deref(), Some(&b"v1"[..]));
    let user: Vec<(&str, Option<&[u8]>)> = m
        .headers
        .iter()
        .filter(|h| h.key != weir_sdk::trace::TRACEPARENT)
        .map(|h| (h.key.as_str(), h.value.as_deref()))
        .collect();
    assert_eq!(
        user,
        vec![
            ("a", Some(&b"1"[..])),
            ("b", Some(&b"2"[..])),
            ("a", Some(&b"3"[..])),
            ("nothing", None)
        ]
    );
    assert_eq!(m.header("a"), Some(&b"3"[..]));
}

#[tokio::test]
async fn conformance_group_consume() {
    let w = Weir::start(&[]);
    let t = topic(&w, 3).await;
    write_n(&w, &t, 30).await;
    let r = Reader::new(ReaderConfig::new(&w.kafka, &t).group(unique("g")))
        .await
        .expect("reader");
    let mut seen = HashSet::new();
    let mut values = BTreeSet::new();
    while seen.len() < 30 {
        let m = r.read_message(&ctx()).await.expect("read");
        assert!(seen.insert((m.topic.clone(), m.partition, m.offset)));
        assert!(values.insert(m.value_str().unwrap_or_default().to_string()));
    }
    assert_eq!(values.len(), 30);
    r.close().await.expect("close");
}

#[tokio::test]
async fn conformance_manual_commit() {
    let w = Weir::start(&[]);
    let t = topic(&w, 1).await;
    write_n(&w, &t, 10).await;
    let group = unique("g");
    let r = Reader::new(ReaderConfig::new(&w.kafka, &t).group(&group))
        .await
        .expect("reader");
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(r.fetch_message(&ctx()).await.expect("fetch"));
    }
    assert_eq!(
        got.iter().map(|m| m.offset).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    r.commit_messages(&got[4..]).await.expect("commit");
    r.close().await.expect("close");

    let lag = w.admin().group_lag(&group).await.expect("lag");
    assert_eq!(lag.len(), 1);
    assert_eq!((lag[0].position, lag[0].lag), (5, 5));

    let r2 = Reader::new(ReaderConfig::new(&w.kafka, &t).group(&group))
        .await
        .expect("reader");
    let m = r2.read_message(&ctx()).await.expect("read");
    assert_eq!(m.offset, 5);
}

#[tokio::test]
async fn conformance_seek() {
    let w = Weir::start(&[]);
    let t = topic(&w, 1).await;
    write_n(&w, &t, 10).await;
    let r = Reader::new(partition_reader(&w, &t)).await.expect("reader");
    for want in 0..=5 {
        assert_eq!(r.read_message(&ctx()).await.expect("read").offset, want);
    }
    r.seek(&t, 0, 2).await.expect("seek");
    assert_eq!(r.read_message(&ctx()).await.expect("read").offset, 2);
    r.set_offset(FIRST_OFFSET).await.expect("seek first");
    assert_eq!(r.read_message(&ctx()).await.expect("read").offset, 0);
}

#[tokio::test]
async fn conformance_rebalance_two_consumers() {
    let w = Weir::start(&[]);
    let t = topic(&w, 4).await;
    let group = unique("g");
    let cfg = ReaderConfig::new(&w.kafka, &t).group(&group);
    let a = Reader::new(cfg.clone()).await.expect("reader a");
    let b = Reader::new(cfg).await.expect("reader b");
    write_n(&w, &t, 40).await;
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let short = || Context::background().with_timeout(Duration::from_millis(300));
    while seen.len() < 40 || a.assignment().is_empty() || b.assignment().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 40 read; assignments {:?} / {:?}",
            seen.len(),
            a.assignment(),
            b.assignment()
        );
        for r in [&a, &b] {
            match r.read_message(&short()).await {
                Ok(m) => {
                    *seen
                        .entry((m.partition.unwrap_or(-1), m.offset))
                        .or_default() += 1
                }
                Err(Error::Timeout(_)) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
    assert!(seen.values().all(|n| *n == 1), "read twice: {seen:?}");
    let (pa, pb): (BTreeSet<_>, BTreeSet<_>) = (
        a.assignment().into_iter().collect(),
        b.assignment().into_iter().collect(),
    );
    assert!(pa.is_disjoint(&pb), "{pa:?} / {pb:?}");
    let all: BTreeSet<i32> = pa.union(&pb).map(|(_, p)| *p).collect();
    assert_eq!(all, BTreeSet::from([0, 1, 2, 3]));
}

#[tokio::test]
async fn conformance_plugin_rejection() {
    let w = Weir::start(&[]);
    let t = topic(&w, 1).await;
    let admin = w.admin();
    let name = deploy_rejecter(&admin).await;
    admin.set_topic_plugins(&t, &[&name]).await.expect("attach");
    let wr = w.writer(&t);
    wr.write_message(&ctx(), Message::new("good"))
        .await
        .expect("good is kept");
    match wr.write_message(&ctx(), Message::new("this is bad")).await {
        Err(Error::Rejected { topic, reason }) => {
            assert_eq!(topic, t);
            assert!(reason.contains("forbidden word \"bad\""), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let r = Reader::new(partition_reader(&w, &t)).await.expect("reader");
    assert_eq!(
        r.read_message(&ctx()).await.expect("read").value_str(),
        Some("good")
    );
    let lag = r.lag().await.expect("lag");
    assert_eq!(lag[0].high_watermark, 1, "only the good record is stored");
}

#[tokio::test]
async fn conformance_dlq_replay() {
    let w = Weir::start(&[]);
    let admin = w.admin();
    let name = deploy_rejecter(&admin).await;
    let t = unique("conf");
    admin
        .create_topic(
            &TopicSpec::new(&t, 1)
                .config("weir.plugins", &name)
                .config("weir.plugins.reject.policy", "dead-letter"),
        )
        .await
        .expect("create");
    let wr = w.writer(&t);
    for v in ["ok-1", "bad-1", "ok-2"] {
        wr.write_message(&ctx(), Message::new(v)).await.expect(v);
    }
    let dlq = format!("{t}.dlq");
    let letters = admin
        .inspect_dead_letters(&dlq, 0, 100)
        .await
        .expect("inspect");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].value.as_deref(), Some("bad-1"));
    assert_eq!(letters[0].plugin.as_deref(), Some(name.as_str()));
    assert!(
        letters[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("forbidden word")),
        "{letters:?}"
    );
    admin.set_topic_plugins(&t, &[]).await.expect("detach");
    let report = admin
        .replay_dead_letters(&dlq, None, None)
        .await
        .expect("replay");
    assert_eq!(report.replayed, 1, "{report:?}");
    let r = Reader::new(partition_reader(&w, &t)).await.expect("reader");
    let mut values = Vec::new();
    for _ in 0..3 {
        values.push(
            r.read_message(&ctx())
                .await
                .expect("read")
                .value_str()
                .map(str::to_string),
        );
    }
    assert!(values.contains(&Some("bad-1".into())), "{values:?}");
}

#[tokio::test]
async fn conformance_admin_create_delete() {
    let w = Weir::start(&[]);
    let admin = w.admin();
    let t = unique("conf");
    let spec = TopicSpec::new(&t, 3).config("retention.ms", "3600000");
    admin.create_topic(&spec).await.expect("create");
    let info = admin.describe_topic(&t).await.expect("describe");
    assert_eq!(info.partitions.len(), 3);
    assert_eq!(
        info.configs.get("retention.ms").map(String::as_str),
        Some("3600000")
    );
    assert!(admin.list_topics().await.expect("list").contains(&t));
    let again = admin.create_topic(&spec).await.expect_err("duplicate");
    assert!(again.to_string().contains("already exists"), "{again}");
    admin.delete_topic(&t).await.expect("delete");
    match admin.describe_topic(&t).await {
        Err(Error::UnknownTopic(name)) => assert_eq!(name, t),
        other => panic!("expected UnknownTopic, got {other:?}"),
    }
}
