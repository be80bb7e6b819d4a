//! WebAssembly plugins end to end: the real binary, real plugin components built from
//! plugins/ (by scripts/build-plugins.sh), the `weir plugin` CLI and the rdkafka client.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Weir, consume, raw_batch, raw_request, read_raw_response, runtime};
use std::io::Write;

use kafka_protocol::messages::{ProduceResponse, ResponseHeader};
use kafka_protocol::protocol::Decodable;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureRecord;

const T: Duration = Duration::from_secs(15);

/// A plugin component built by scripts/build-plugins.sh.
fn plugin(name: &str) -> PathBuf {
    let dir = std::env::var_os("WEIR_PLUGINS_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/weir/plugins"),
        PathBuf::from,
    );
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-plugins.sh first",
        path.display()
    );
    path
}

/// Runs `weir <args>` against the broker's HTTP API; panics with its stderr on failure.
fn cli(weir: &Weir, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_ADMIN", format!("http://{}", weir.http))
        .output()
        .expect("run weir cli");
    assert!(
        out.status.success(),
        "weir {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli_fails(weir: &Weir, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_ADMIN", format!("http://{}", weir.http))
        .output()
        .expect("run weir cli");
    assert!(!out.status.success(), "weir {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn deploy(weir: &Weir, name: &str, file: &str, version: &str, config: &[&str]) {
    let path = plugin(file);
    let mut args = vec![
        "plugin",
        "deploy",
        name,
        path.to_str().expect("utf-8 path"),
        "--version",
        version,
    ];
    for c in config {
        args.extend(["--config", c]);
    }
    let out = cli(weir, &args);
    assert!(out.contains("deployed"), "{out}");
}

fn create_topic(weir: &Weir, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = weir.admin();
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let res = runtime()
        .block_on(admin.create_topics([&t], &AdminOptions::new()))
        .expect("create_topics");
    for r in res {
        r.unwrap_or_else(|(t, e)| panic!("creating {t}: {e}"));
    }
}

fn header<'a>(m: &'a rdkafka::message::OwnedMessage, key: &str) -> Option<&'a str> {
    let h = m.headers()?;
    (0..h.count())
        .rev()
        .map(|i| h.get(i))
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

fn value(m: &rdkafka::message::OwnedMessage) -> String {
    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
}

/// Produces one raw batch (so the test sees the broker's exact answer) and returns the
/// partition's error code and message.
fn raw_produce(weir: &Weir, topic: &str, value: &str) -> (i16, Option<String>) {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    let mut s = std::net::TcpStream::connect(&weir.kafka).expect("connect");
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(raw_batch(value, -1, -1, -1))),
                ]),
        ]);
    let api = kafka_protocol::messages::ApiKey::Produce;
    s.write_all(&raw_request(api, 9, &req)).expect("send");
    let mut body = read_raw_response(&mut s).expect("response");
    ResponseHeader::decode(&mut body, api.response_header_version(9)).expect("header");
    let resp = ProduceResponse::decode(&mut body, 9).expect("decode");
    let p = &resp.responses[0].partition_responses[0];
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

fn produce_all(weir: &Weir, topic: &str, values: &[&str]) -> Vec<Result<i64, String>> {
    let producer = weir.producer(&[("linger.ms", "20")]);
    runtime().block_on(async {
        let fs: Vec<_> = values
            .iter()
            .map(|v| producer.send(FutureRecord::<str, str>::to(topic).payload(v), T))
            .collect();
        let mut out = Vec::new();
        for f in fs {
            out.push(f.await.map(|d| d.offset).map_err(|(e, _)| e.to_string()));
        }
        out
    })
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn json(weir: &Weir, path: &str) -> serde_json::Value {
    let (code, body) = weir.http_get(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

fn high_watermark(weir: &Weir, topic: &str) -> i64 {
    json(weir, "/v1/topics")
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["name"] == topic)
        .map_or(-1, |t| {
            t["partitions"]
                .as_array()
                .expect("partitions")
                .iter()
                .map(|p| p["high_watermark"].as_i64().unwrap_or(0))
                .sum()
        })
}

#[test]
fn validation_rejects_with_the_plugins_reason_and_dlq_policy_keeps_the_rest() {
    let weir = Weir::start(&[]);
    deploy(&weir, "guard", "rejecter", "1.0.0", &[]);
    create_topic(&weir, "orders", 1, &[("weir.plugins", "guard")]);

    // Fail policy: the produce fails with INVALID_RECORD and the plugin's reason; nothing lands.
    let (code, msg) = raw_produce(&weir, "orders", "a bad order");
    assert_eq!(code, 87, "INVALID_RECORD");
    let msg = msg.expect("error message");
    assert!(msg.contains("contains forbidden word \"bad\""), "{msg}");
    assert!(msg.contains("guard"), "names the plugin: {msg}");
    let results = produce_all(&weir, "orders", &["fine"]);
    assert!(results[0].is_ok(), "{results:?}");
    let results = produce_all(&weir, "orders", &["also bad"]);
    let err = results[0].as_ref().expect_err("rejected");
    assert!(err.contains("InvalidRecord"), "{err}");
    // librdkafka does not show the broker's message; the plugin's log has it.
    let logs = cli(&weir, &["plugin", "logs", "guard"]);
    assert!(
        logs.contains("[orders] rejected 1 record(s)") && logs.contains("forbidden word"),
        "{logs}"
    );
    assert_eq!(high_watermark(&weir, "orders"), 1, "only the good record");

    // Dead-letter policy: the rest of the batch lands, the bad record goes to orders.dlq with
    // headers saying why.
    let admin_cfg = cli(&weir, &["plugin", "attach", "guard", "--topic", "orders"]);
    assert!(admin_cfg.contains("weir.plugins=guard"), "{admin_cfg}");
    let change = serde_json::json!({"set": {"weir.plugins.reject.policy": "dead-letter"}});
    put_json(&weir, "/v1/topics/orders/configs", &change);
    let results = produce_all(&weir, "orders", &["one", "two bad", "three"]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The producer was told offsets 1, 2 and 3: the kept records are where it was told, and
    // the dead-lettered one leaves a gap, as compaction would.
    let offsets: Vec<i64> = results.iter().map(|r| *r.as_ref().expect("ok")).collect();
    assert_eq!(offsets, [1, 2, 3]);
    let c = weir.consumer();
    let got = consume(&c, "orders", 0, 0, 3);
    let got: Vec<(i64, String)> = got.iter().map(|m| (m.offset(), value(m))).collect();
    assert_eq!(
        got,
        [
            (0, "fine".to_string()),
            (1, "one".to_string()),
            (3, "three".to_string())
        ]
    );
    let dead = consume(&c, "orders.dlq", 0, 0, 1);
    assert_eq!(value(&dead[0]), "two bad");
    assert_eq!(
        header(&dead[0], "weir.dlq.reason"),
        Some("contains forbidden word \"bad\"")
    );
    assert_eq!(header(&dead[0], "weir.dlq.plugin"), Some("guard"));
    assert_eq!(header(&dead[0], "weir.dlq.plugin.version"), Some("1.0.0"));
    assert_eq!(header(&dead[0], "weir.dlq.source.topic"), Some("orders"));
    assert_eq!(header(&dead[0], "weir.dlq.source.partition"), Some("0"));
    assert!(header(&dead[0], "weir.dlq.timestamp").is_some());

    // Inspect, fix the plugin, replay: the record lands in its source topic.
    let shown = cli(&weir, &["dlq", "inspect", "orders.dlq"]);
    assert!(shown.contains("contains forbidden word"), "{shown}");
    deploy(&weir, "guard", "rejecter", "1.0.1", &["needle=forbidden"]);
    let replay = cli(&weir, &["dlq", "replay", "orders.dlq"]);
    assert!(replay.contains("replayed 1: 1 appended"), "{replay}");
    let got = consume(&c, "orders", 0, 4, 1);
    assert_eq!(value(&got[0]), "two bad");
    assert_eq!(
        header(&got[0], "weir.dlq.reason"),
        None,
        "DLQ headers stripped"
    );
    // A second replay has nothing left to do.
    let replay = cli(&weir, &["dlq", "replay", "orders.dlq"]);
    assert!(replay.contains("replayed 0"), "{replay}");
    // Replayed again elsewhere, to a topic that does not exist yet: created as a producer's
    // first write would create it.
    let replay = cli(
        &weir,
        &[
            "dlq",
            "replay",
            "orders.dlq",
            "--from",
            "0",
            "--to",
            "orders-replayed",
        ],
    );
    assert!(replay.contains("replayed 1: 1 appended"), "{replay}");
    let got = consume(&c, "orders-replayed", 0, 0, 1);
    assert_eq!(value(&got[0]), "two bad");

    // Standard admin tools see the chain as a topic config.
    let described = json(&weir, "/v1/plugins/guard");
    assert_eq!(described["version"], "1.0.1");
    assert_eq!(described["topics"][0], "orders");
    // A plugin in use cannot be removed.
    let err = cli_fails(&weir, &["plugin", "remove", "guard"]);
    assert!(err.contains("in use by topic orders"), "{err}");
}

fn put_json(weir: &Weir, path: &str, body: &serde_json::Value) {
    let (code, out) = weir.http_request("PUT", path, Some(body));
    assert!(code == 204 || code == 200, "{code} {out}");
}

#[test]
fn transforms_and_routes_are_what_consumers_see() {
    let weir = Weir::start(&[]);
    deploy(&weir, "pii-redact", "pii-redact", "1.0.0", &[]);
    deploy(
        &weir,
        "router",
        "router",
        "1.0.0",
        &["field=type", "route.refund=refunds", "route.audit=audit"],
    );
    create_topic(&weir, "signups", 1, &[("weir.plugins", "pii-redact")]);
    create_topic(&weir, "events", 1, &[("weir.plugins", "router")]);
    create_topic(&weir, "refunds", 1, &[]);

    let results = produce_all(
        &weir,
        "signups",
        &[
            "contact ann@example.com, card 4111 1111 1111 1111",
            "nothing to hide",
        ],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let c = weir.consumer();
    let got: Vec<String> = consume(&c, "signups", 0, 0, 2).iter().map(value).collect();
    assert_eq!(
        got,
        ["contact [REDACTED], card [REDACTED]", "nothing to hide"]
    );

    let results = produce_all(
        &weir,
        "events",
        &[
            r#"{"type":"order","id":1}"#,
            r#"{"type":"refund","id":2}"#,
            r#"{"type":"audit","id":3}"#,
            r#"{"type":"order","id":4}"#,
        ],
    );
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Kept records stay at the offsets the producer was told (0 and 3); routed ones left gaps.
    let offsets: Vec<i64> = results.iter().map(|r| *r.as_ref().expect("ok")).collect();
    assert_eq!(offsets, [0, 1, 2, 3]);
    let kept: Vec<(i64, String)> = consume(&c, "events", 0, 0, 2)
        .iter()
        .map(|m| (m.offset(), value(m)))
        .collect();
    assert_eq!(
        kept,
        [
            (0, r#"{"type":"order","id":1}"#.to_string()),
            (3, r#"{"type":"order","id":4}"#.to_string())
        ]
    );
    let refunds = consume(&c, "refunds", 0, 0, 1);
    assert_eq!(value(&refunds[0]), r#"{"type":"refund","id":2}"#);
    // `audit` did not exist: auto-created (the broker default) by the route.
    let audit = consume(&c, "audit", 0, 0, 1);
    assert_eq!(value(&audit[0]), r#"{"type":"audit","id":3}"#);
    assert_eq!(high_watermark(&weir, "events"), 4);

    let metrics = weir.http_get("/metrics").1;
    assert!(
        metrics.contains(
            r#"weir_plugin_records_total{plugin="router",topic="events",outcome="routed"} 2"#
        ),
        "{metrics}"
    );
}

#[test]
fn looping_trapping_and_greedy_plugins_do_not_hurt_the_broker() {
    let weir = Weir::start(&[]);
    let path = plugin("loop");
    cli(
        &weir,
        &[
            "plugin",
            "deploy",
            "spin",
            path.to_str().expect("path"),
            "--version",
            "1",
            "--timeout-ms",
            "200",
        ],
    );
    deploy(&weir, "crash", "trap", "1", &[]);
    let path = plugin("oom");
    cli(
        &weir,
        &[
            "plugin",
            "deploy",
            "hog",
            path.to_str().expect("path"),
            "--version",
            "1",
            "--memory-mb",
            "16",
        ],
    );
    deploy(&weir, "liar", "garbage", "1", &[]);
    create_topic(&weir, "spin", 1, &[("weir.plugins", "spin")]);
    create_topic(&weir, "crash", 1, &[("weir.plugins", "crash")]);
    create_topic(&weir, "hog", 1, &[("weir.plugins", "hog")]);
    create_topic(
        &weir,
        "liar",
        1,
        &[
            ("weir.plugins", "liar"),
            ("weir.plugins.failure.policy", "pass"),
        ],
    );
    create_topic(
        &weir,
        "crash-dlq",
        1,
        &[
            ("weir.plugins", "crash"),
            ("weir.plugins.failure.policy", "dead-letter"),
        ],
    );

    for (topic, expect) in [
        ("spin", "time budget"),
        ("crash", "trapped"),
        ("hog", "memory limit"),
    ] {
        let (code, msg) = raw_produce(&weir, topic, "x");
        assert_eq!(code, 87, "{topic}");
        let msg = msg.expect("message");
        assert!(msg.contains(expect), "{topic}: {msg}");
    }
    // Pass policy: the broken plugin is skipped and the record lands.
    let (code, _) = raw_produce(&weir, "liar", "kept anyway");
    assert_eq!(code, 0);
    assert_eq!(high_watermark(&weir, "liar"), 1);
    // Dead-letter policy: the record goes to the DLQ with the failure as the reason.
    let (code, _) = raw_produce(&weir, "crash-dlq", "y");
    assert_eq!(code, 0);
    let dead = consume(&weir.consumer(), "crash-dlq.dlq", 0, 0, 1);
    assert!(
        header(&dead[0], "weir.dlq.reason").is_some_and(|r| r.contains("trapped")),
        "{:?}",
        header(&dead[0], "weir.dlq.reason")
    );

    // Other topics are served throughout.
    let results = produce_all(&weir, "plain", &["a", "b"]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    // Ten failures in a row mark a plugin failed, visibly.
    for _ in 0..10 {
        raw_produce(&weir, "spin", "x");
    }
    let spin = json(&weir, "/v1/plugins/spin");
    assert_eq!(spin["health"]["state"], "failed", "{spin}");
    let list = cli(&weir, &["plugin", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("spin") && l.contains("failed")),
        "{list}"
    );
    let logs = cli(&weir, &["plugin", "logs", "spin"]);
    assert!(logs.contains("time budget"), "{logs}");
    let metrics = weir.http_get("/metrics").1;
    assert!(
        metrics.contains(r#"weir_plugin_failed{plugin="spin"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"weir_plugin_errors_total{plugin="hog",topic="hog",kind="memory"}"#),
        "{metrics}"
    );

    // Not a component, or not this world: refused at deploy.
    let junk = weir.data.join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x01\0\0\0").expect("write");
    let err = cli_fails(
        &weir,
        &[
            "plugin",
            "deploy",
            "junk",
            junk.to_str().expect("p"),
            "--version",
            "1",
        ],
    );
    assert!(err.contains("not a valid Weir plugin"), "{err}");
    // Unknown plugin in a topic config: INVALID_CONFIG.
    let admin = weir.admin();
    let t = NewTopic::new("nope", 1, TopicReplication::Fixed(1)).set("weir.plugins", "missing");
    let res = runtime()
        .block_on(admin.create_topics([&t], &AdminOptions::new()))
        .expect("create");
    assert!(res[0].is_err(), "{res:?}");
}

#[test]
fn a_new_version_under_load_loses_no_record() {
    let weir = Weir::start(&[]);
    deploy(&weir, "tag", "tagger", "1", &["tag=v1"]);
    create_topic(&weir, "swap", 1, &[("weir.plugins", "tag")]);
    let producer = weir.producer(&[("linger.ms", "1"), ("enable.idempotence", "true")]);
    let rt = runtime();
    let n = 3000;
    let handle = {
        let weir_http = weir.http.clone();
        let kafka = weir.kafka.clone();
        std::thread::spawn(move || {
            // Swap once a few hundred records went through v1.
            let c = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &kafka)
                .create::<rdkafka::consumer::BaseConsumer>()
                .expect("consumer");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let (_, high) = c
                    .fetch_watermarks("swap", 0, Duration::from_secs(5))
                    .unwrap_or((0, 0));
                if high >= 300 {
                    break;
                }
                assert!(Instant::now() < deadline, "v1 never took 300 records");
                std::thread::sleep(Duration::from_millis(10));
            }
            let out = Command::new(env!("CARGO_BIN_EXE_weir"))
                .args(["plugin", "deploy", "tag"])
                .arg(plugin("tagger"))
                .args(["--version", "2", "--config", "tag=v2"])
                .env("WEIR_ADMIN", format!("http://{weir_http}"))
                .output()
                .expect("deploy v2");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
    };
    rt.block_on(async {
        let values: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let mut fs = Vec::new();
        for (i, v) in values.iter().enumerate() {
            fs.push(producer.send(FutureRecord::<str, str>::to("swap").payload(v), T));
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        for f in fs {
            f.await.expect("every record acknowledged");
        }
    });
    handle.join().expect("deployer");
    let got = consume(&weir.consumer(), "swap", 0, 0, n);
    let values: Vec<String> = got.iter().map(value).collect();
    let expected: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    assert_eq!(values, expected, "every record, once, in order");
    let tags: Vec<&str> = got
        .iter()
        .map(|m| header(m, "weir-version").expect("tagged"))
        .collect();
    let switch = tags.iter().position(|t| *t == "v2").expect("v2 took over");
    assert!(switch > 0, "v1 ran first");
    assert!(tags[switch..].iter().all(|t| *t == "v2"), "no return to v1");
}

#[test]
fn a_pipeline_resumes_after_restart_without_loss() {
    let mut weir = Weir::start(&[]);
    deploy(&weir, "tag", "tagger", "1", &["tag=piped"]);
    create_topic(&weir, "raw", 2, &[]);
    let values: Vec<String> = (0..200).map(|i| format!("e{i}")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    assert!(
        produce_all(&weir, "raw", &refs[..100])
            .iter()
            .all(Result::is_ok)
    );
    cli(
        &weir,
        &[
            "pipeline", "create", "enrich", "--input", "raw", "--plugin", "tag", "--output",
            "enriched", "--start", "earliest",
        ],
    );
    wait_for("100 records through the pipeline", || {
        high_watermark(&weir, "enriched") == 100
    });
    // Pause, produce, restart: nothing moves while paused, and the position survives.
    cli(&weir, &["pipeline", "pause", "enrich"]);
    assert!(
        produce_all(&weir, "raw", &refs[100..150])
            .iter()
            .all(Result::is_ok)
    );
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(high_watermark(&weir, "enriched"), 100);
    weir.stop();
    weir.restart();
    cli(&weir, &["pipeline", "resume", "enrich"]);
    assert!(
        produce_all(&weir, "raw", &refs[150..])
            .iter()
            .all(Result::is_ok)
    );
    wait_for("200 records through the pipeline", || {
        high_watermark(&weir, "enriched") == 200
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(high_watermark(&weir, "enriched"), 200, "no duplicates");
    let c = weir.consumer();
    let mut seen = BTreeMap::new();
    for p in 0..2 {
        let n = json(&weir, "/v1/topics")
            .as_array()
            .expect("topics")
            .iter()
            .find(|t| t["name"] == "enriched")
            .and_then(|t| t["partitions"][p]["high_watermark"].as_i64())
            .unwrap_or(0) as usize;
        for m in consume(&c, "enriched", p as i32, 0, n) {
            assert_eq!(header(&m, "weir-version"), Some("piped"));
            seen.insert(value(&m), ());
        }
    }
    assert_eq!(seen.len(), 200, "every input record, once");
    let status = json(&weir, "/v1/pipelines/enrich");
    let lag: i64 = status["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["lag"].as_i64().unwrap_or(-1))
        .sum();
    assert_eq!(lag, 0, "{status}");
}

#[test]
fn python_and_javascript_plugins_run_in_a_chain() {
    let weir = Weir::start(&[]);
    // Components from componentize-py and componentize-js (WASI imports, ~15 MiB each).
    deploy(&weir, "py", "python-tagger", "1", &[]);
    deploy(&weir, "js", "js-tagger", "1", &[]);
    // And a Rust one on ABI 0.2.0 first: the batch goes raw into it, decoded for the others.
    deploy(&weir, "tag", "tagger", "1", &[]);
    let list = cli(&weir, &["plugin", "list"]);
    for (name, abi) in [("py", "0.1.0"), ("js", "0.1.0"), ("tag", "0.2.0")] {
        assert!(
            list.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.first() == Some(&name) && cols.get(3) == Some(&abi)
            }),
            "{name} should be ABI {abi}: {list}"
        );
    }
    create_topic(&weir, "poly", 1, &[("weir.plugins", "tag,py,js")]);
    let results = produce_all(&weir, "poly", &["hello", "drop", "world"]);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let got = consume(&weir.consumer(), "poly", 0, 0, 2);
    let values: Vec<(i64, String)> = got.iter().map(|m| (m.offset(), value(m))).collect();
    // The Python plugin drops "drop"; both add a `lang` header, and both are kept.
    assert_eq!(values, [(0, "hello".to_string()), (2, "world".to_string())]);
    for m in &got {
        let h = m.headers().expect("headers");
        let langs: Vec<&str> = (0..h.count())
            .map(|i| h.get(i))
            .filter(|h| h.key == "lang")
            .filter_map(|h| h.value.and_then(|v| std::str::from_utf8(v).ok()))
            .collect();
        assert_eq!(langs, ["python", "javascript"]);
        let tagged = (0..h.count()).any(|i| {
            let h = h.get(i);
            h.key == "weir-version" && h.value == Some(&b"v1"[..])
        });
        assert!(tagged, "the 0.2.0 plugin's header is missing");
    }
}

/// In a cluster, a plugin deployed through one broker runs on every broker that leads a
/// partition of its topic: the others fetch the binary from their peers.
#[test]
fn plugin_binaries_reach_every_broker_of_a_cluster() {
    let nodes = common::start_cluster(3, &[]);
    deploy(&nodes[0], "guard", "rejecter", "1.0.0", &[]);
    // Three partitions of replication factor 1: one led by each broker.
    create_topic(&nodes[0], "guarded", 3, &[("weir.plugins", "guard")]);
    let producer = nodes[0].producer(&[("linger.ms", "0")]);
    for p in 0..3 {
        let bad = runtime().block_on(
            producer.send(
                FutureRecord::<str, str>::to("guarded")
                    .partition(p)
                    .payload("a bad order"),
                T,
            ),
        );
        let err = bad.expect_err("the plugin rejects it").0.to_string();
        assert!(err.contains("InvalidRecord"), "partition {p}: {err}");
        let good = runtime().block_on(
            producer.send(
                FutureRecord::<str, str>::to("guarded")
                    .partition(p)
                    .payload("a fine order"),
                T,
            ),
        );
        assert!(good.is_ok(), "partition {p}: {good:?}");
    }

    // Dead-letter policy, with the dead-letter topic's one partition led by one broker: the
    // other two leaders forward their dead letters to it, and every produce succeeds.
    create_topic(&nodes[0], "guarded.dlq", 1, &[]);
    let change = serde_json::json!({"set": {"weir.plugins.reject.policy": "dead-letter"}});
    put_json(&nodes[0], "/v1/topics/guarded/configs", &change);
    // Each broker applies the change when the metadata quorum's log reaches it, as each Kafka
    // broker applies a config change after the controller has committed it.
    for node in &nodes {
        wait_for("every broker to have the dead-letter policy", || {
            json(node, "/v1/topics").as_array().is_some_and(|topics| {
                topics.iter().any(|t| {
                    t["name"] == "guarded"
                        && t["configs"]["weir.plugins.reject.policy"] == "dead-letter"
                })
            })
        });
    }
    for p in 0..3 {
        let sent = runtime().block_on(
            producer.send(
                FutureRecord::<str, str>::to("guarded")
                    .partition(p)
                    .payload(&format!("bad order {p}")),
                T,
            ),
        );
        assert!(
            sent.is_ok(),
            "partition {p}: dead-lettered, not refused: {sent:?}"
        );
    }
    let dead = consume(&nodes[0].consumer(), "guarded.dlq", 0, 0, 3);
    let mut got: Vec<(String, Option<&str>)> = dead
        .iter()
        .map(|m| (value(m), header(m, "weir.dlq.source.partition")))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("bad order 0".to_string(), Some("0")),
            ("bad order 1".to_string(), Some("1")),
            ("bad order 2".to_string(), Some("2")),
        ]
    );
}
