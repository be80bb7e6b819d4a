"""WebAssembly plugins on topics, seen through real clients.

Plugins are deployed over the broker's HTTP API (PUT /v1/plugins/<name>) from the components
scripts/build-plugins.sh builds into ~/.cache/weir/plugins (WEIR_PLUGINS_DIR); everything else
(attaching them with the `weir.plugins` topic config, policies, per-topic plugin config,
producing, consuming, dead-letter topics) goes through the Kafka clients.
"""

import shutil
import subprocess
import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka import errors as kerrors

from weirtest import (
    admin,
    assert_delivered,
    consume_partition,
    create_topic,
    deploy_plugin,
    http_json,
    norm_headers,
    plugin_info,
    produce_sync,
    producer,
    unique,
    wait_for_topic,
    watermarks,
)

T = 20.0
KCAT = shutil.which("kcat") or shutil.which("kafkacat")
DYNAMIC = ConfigSource.DYNAMIC_TOPIC_CONFIG.value
DEFAULT = ConfigSource.DEFAULT_CONFIG.value

# librdkafka's own text for error 87; it is all a confluent-kafka delivery report carries.
RDKAFKA_INVALID_RECORD_TEXT = "Broker: Broker failed to validate record"
# kafka-python's text for the records of a batch that were not themselves rejected.
KP_BATCH_SIBLING_TEXT = ("Failed to append record because it was part of a batch which had one "
                         "more more invalid records")


@pytest.fixture(scope="module")
def plugged(broker):
    """The module's broker with the plugins these tests use deployed (version 1.0.0)."""
    deploy_plugin(broker, "guard", wasm_name="rejecter")
    for name in ("rejecter", "tagger", "pii-redact", "router", "trap", "noop"):
        deploy_plugin(broker, name)
    meta = deploy_plugin(broker, "loop", timeout_ms=200)
    assert meta["timeout_ms"] == 200
    return broker


def one_batch_producer(bs, topic=None, **cfg):
    """A confluent-kafka producer whose records, produced before flush(), go in one batch. With
    `topic`, it has the topic's metadata first: records produced before it arrives wait in
    librdkafka's unassigned queue, and under load the first could leave in a batch of its own."""
    p = producer(bs, **{"linger.ms": 2000, **cfg})
    if topic is not None:
        p.list_topics(topic, timeout=T)
    return p


def describe(a, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return a.describe_configs([res], request_timeout=T)[res].result(timeout=T)


def incremental_set(a, topic, **configs):
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()])
    assert a.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=T) is None


def kv(msgs):
    return [(m.offset(), m.key(), m.value()) for m in msgs]


def kcat_read(b, topic, fmt="%o|%k|%s|%h\n"):
    cmd = [KCAT, "-b", b.bootstrap, "-X", "socket.timeout.ms=10000", "-C", "-t", topic, "-p", "0",
           "-o", "beginning", "-e", "-q", "-f", fmt]
    p = subprocess.run(cmd, capture_output=True, timeout=60)
    assert p.returncode == 0, f"{' '.join(cmd)} -> rc {p.returncode}: {p.stderr[-2000:]!r}"
    return [ln for ln in p.stdout.decode().splitlines() if ln]


def kp_producer(b, **cfg):
    conf = dict(bootstrap_servers=b.bootstrap, acks=1, enable_idempotence=False, retries=0,
                linger_ms=2000, request_timeout_ms=20000, max_block_ms=20000)
    conf.update(cfg)
    return KafkaProducer(**conf)


def kp_read(b, topic, n, timeout=30.0):
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", request_timeout_ms=30000, fetch_max_wait_ms=200)
    try:
        tp = KpTopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for _tp, recs in c.poll(timeout_ms=500).items():
                out.extend(recs)
        assert len(out) == n, f"kafka-python read {len(out)} of {n} records of {topic}"
        return out
    finally:
        c.close()


def kp_outcome(future):
    """('ok', offset) or (exception class, str(exception)) of a kafka-python send future."""
    try:
        return ("ok", future.get(timeout=30).offset)
    except kerrors.KafkaError as e:
        return (type(e), str(e))


# ---------------------------------------------------------------------------
# 1. confluent-kafka producer, rejecting plugin, fail policy

def test_confluent_rejected_batch_fails_with_invalid_record(plugged):
    bs = plugged.bootstrap
    topic = create_topic(bs, unique("guarded"), config={"weir.plugins": "guard"})
    p = one_batch_producer(bs, topic)
    results = produce_sync(p, topic, [{"value": b"good 1"}, {"value": b"a bad one"},
                                      {"value": b"good 2"}])
    for i, (err, msg) in enumerate(results):
        assert err is not None, f"record {i} of the rejected batch was delivered: {msg.offset()}"
        assert err.code() == KafkaError.INVALID_RECORD == 87
        assert err.name() == "INVALID_RECORD"
        # The broker's error_message ("record 1: rejected by plugin 'guard': contains forbidden
        # word \"bad\"") and record_errors are not exposed by librdkafka 2.16: the delivery
        # report only has the error code and librdkafka's text for it.
        assert err.str() == RDKAFKA_INVALID_RECORD_TEXT
        assert not err.retriable() and not err.fatal()
        assert msg.error().code() == KafkaError.INVALID_RECORD
    # Nothing of the batch was appended, not even the good records.
    assert watermarks(bs, topic, 0) == (0, 0)

    # The same producer keeps working for batches the plugin accepts.
    ok = assert_delivered(produce_sync(p, topic, [{"key": b"k3", "value": b"good 3"},
                                                  {"value": b"good 4"}]))
    assert [m.offset() for m in ok] == [0, 1]
    assert kv(consume_partition(bs, topic, 0, expected=2)) == [(0, b"k3", b"good 3"),
                                                               (1, None, b"good 4")]
    assert topic in plugin_info(plugged, "guard")["topics"]


# ---------------------------------------------------------------------------
# 2. AdminClient: plugins and policies as topic configs; dead-letter policy; DLQ; replay

def test_admin_configs_and_dead_letter_policy(plugged):
    bs = plugged.bootstrap
    a = admin(bs)
    topic = unique("dlq-src")
    fs = a.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                   config={"weir.plugins": "rejecter"})], request_timeout=T)
    assert fs[topic].result(timeout=T) is None
    wait_for_topic(bs, topic, 1, admin_client=a)

    cfg = describe(a, topic)
    assert cfg["weir.plugins"].value == "rejecter"
    assert cfg["weir.plugins"].source == DYNAMIC and not cfg["weir.plugins"].is_default
    assert cfg["weir.plugins.reject.policy"].value == "fail"
    assert cfg["weir.plugins.reject.policy"].is_default
    assert cfg["weir.plugins.failure.policy"].value == "fail"
    assert cfg["weir.plugins.failure.policy"].source == DEFAULT
    assert cfg["weir.dlq.topic"].value == "" and cfg["weir.dlq.topic"].is_default

    # Bad values are refused like any other invalid topic config.
    for name, value in (("weir.plugins", "no-such-plugin"),
                        ("weir.plugins.reject.policy", "maybe")):
        bad = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
        with pytest.raises(Exception) as ei:
            a.incremental_alter_configs([bad], request_timeout=T)[bad].result(timeout=T)
        assert ei.value.args[0].code() == KafkaError.INVALID_CONFIG, ei.value
    assert describe(a, topic)["weir.plugins"].value == "rejecter"

    incremental_set(a, topic, **{"weir.plugins.reject.policy": "dead-letter"})
    cfg = describe(a, topic)
    assert cfg["weir.plugins.reject.policy"].value == "dead-letter"
    assert cfg["weir.plugins.reject.policy"].source == DYNAMIC
    assert cfg["weir.plugins"].value == "rejecter", "an incremental alter keeps other overrides"

    p = one_batch_producer(bs)
    t0 = int(time.time() * 1000)
    results = produce_sync(p, topic, [
        {"key": b"k1", "value": b"good 1", "headers": [("h", b"1")]},
        {"key": b"kb", "value": b"this is bad", "headers": [("trace", b"abc"), ("null", None)],
         "timestamp": 1_600_000_000_000},
        {"key": b"k2", "value": b"good 2"},
    ])
    t1 = int(time.time() * 1000)
    assert_delivered(results)

    # The kept records are at the offsets their producer was told (0 and 2): the dead letter
    # leaves a gap at 1, as compaction would.
    assert [m.offset() for m in assert_delivered(results)] == [0, 1, 2]
    msgs = consume_partition(bs, topic, 0, expected=2)
    assert kv(msgs) == [(0, b"k1", b"good 1"), (2, b"k2", b"good 2")]
    assert norm_headers(msgs[0].headers()) == [("h", b"1")]
    assert watermarks(bs, topic, 0) == (0, 3)

    [dead] = consume_partition(bs, f"{topic}.dlq", 0, expected=1)
    assert (dead.key(), dead.value()) == (b"kb", b"this is bad")
    assert dead.timestamp() == (1, 1_600_000_000_000), "the record keeps its own timestamp"
    headers = norm_headers(dead.headers())
    ts = [v for k, v in headers if k == "weir.dlq.timestamp"]
    assert len(ts) == 1 and t0 <= int(ts[0]) <= t1 + 1000, (ts, t0, t1)
    assert headers == [
        ("trace", b"abc"),
        ("null", None),
        ("weir.dlq.reason", b'contains forbidden word "bad"'),
        ("weir.dlq.plugin", b"rejecter"),
        ("weir.dlq.plugin.version", b"1.0.0"),
        ("weir.dlq.source.topic", topic.encode()),
        ("weir.dlq.source.partition", b"0"),
        ("weir.dlq.source.offset", b"-1"),
        ("weir.dlq.timestamp", ts[0]),
    ]

    status, view = http_json(plugged, "GET", f"/v1/dlq/{topic}.dlq?offset=0&limit=100")
    assert status == 200
    assert [(d["key"], d["value"], d["reason"], d["plugin"], d["source_topic"],
             d["source_partition"], d["source_offset"]) for d in view] == [
        ("kb", "this is bad", 'contains forbidden word "bad"', "rejecter", topic, 0, -1)]

    # Fix: a per-topic plugin config override (weir.plugin.<plugin>.<key>), then replay the
    # dead letter through the topic's (re-configured) plugins.
    incremental_set(a, topic, **{"weir.plugin.rejecter.needle": "zzz"})
    cfg = describe(a, topic)
    assert cfg["weir.plugin.rejecter.needle"].value == "zzz"
    assert cfg["weir.plugin.rejecter.needle"].source == DYNAMIC
    status, report = http_json(plugged, "POST", f"/v1/dlq/{topic}.dlq/replay")
    assert status == 200, report
    assert report == {"replayed": 1, "appended": 1, "dead_lettered_again": 0, "rejected": 0,
                      "routed": 0, "skipped": 0}
    msgs = consume_partition(bs, topic, 0, expected=3)
    assert kv(msgs)[2] == (3, b"kb", b"this is bad")
    assert norm_headers(msgs[2].headers()) == [("trace", b"abc"), ("null", None)], (
        "replay strips the weir.dlq.* headers")
    # The replay position is kept: a second replay has nothing to do.
    status, report = http_json(plugged, "POST", f"/v1/dlq/{topic}.dlq/replay")
    assert status == 200 and report["replayed"] == 0, report


def test_delivery_report_offsets_match_the_log_after_a_dead_letter(plugged):
    """Records a plugin keeps stay at the offsets the producer computes (base + position in its
    batch); removed ones leave gaps, as compaction does, and a batch whose records all went
    elsewhere still reserves its offsets."""
    bs = plugged.bootstrap
    topic = create_topic(bs, unique("dlq-offsets"), config={
        "weir.plugins": "rejecter", "weir.plugins.reject.policy": "dead-letter"})
    results = produce_sync(one_batch_producer(bs), topic, [
        {"value": b"good 1"}, {"value": b"bad"}, {"value": b"good 2"}])
    by_value = {m.value(): m.offset() for m in assert_delivered(results)}
    in_log = {m.value(): m.offset() for m in consume_partition(bs, topic, 0, expected=2)}
    assert in_log == {b"good 1": 0, b"good 2": 2}
    assert by_value[b"good 1"] == 0 and by_value[b"good 2"] == 2
    # Every record of a batch dead-lettered: the batch's offsets stay reserved, and the next
    # record lands after them, where its producer is told it is.
    results = produce_sync(one_batch_producer(bs), topic, [{"value": b"bad a"}, {"value": b"bad b"}])
    assert sorted(m.offset() for m in assert_delivered(results)) == [3, 4]
    results = produce_sync(one_batch_producer(bs), topic, [{"value": b"good 3"}])
    assert [m.offset() for m in assert_delivered(results)] == [5]
    in_log = {m.value(): m.offset() for m in consume_partition(bs, topic, 0, expected=3)}
    assert in_log == {b"good 1": 0, b"good 2": 2, b"good 3": 5}


@pytest.mark.parametrize("path", ["dead-letter", "kept-in-changed-batch", "transformed"])
def test_duplicate_header_keys_survive_the_plugin_path(plugged, path):
    bs = plugged.bootstrap
    dup = [("trace", b"abc"), ("other", b"x"), ("trace", b"def")]
    if path == "transformed":
        topic = create_topic(bs, unique("dup-pii"), config={"weir.plugins": "pii-redact"})
        assert_delivered(produce_sync(producer(bs), topic, [
            {"value": b"mail a@example.com", "headers": dup}]))
        [m] = consume_partition(bs, topic, 0, expected=1)
        assert m.value() == b"mail [REDACTED]"
    else:
        topic = create_topic(bs, unique("dup-dlq"), config={
            "weir.plugins": "rejecter", "weir.plugins.reject.policy": "dead-letter"})
        assert_delivered(produce_sync(one_batch_producer(bs), topic, [
            {"value": b"bad", "headers": dup}, {"value": b"good", "headers": dup}]))
        if path == "dead-letter":
            [m] = consume_partition(bs, f"{topic}.dlq", 0, expected=1)
        else:
            [m] = consume_partition(bs, topic, 0, expected=1)
            assert m.value() == b"good"
    assert norm_headers(m.headers())[:3] == dup


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_batches_through_batch_abi_plugins(plugged, codec):
    """ABI 0.2.0 plugins get a compressed batch's records decompressed, in Kafka's encoding: one
    that keeps everything (the producer's batch is appended as sent) and one that rewrites every
    record (re-encoded with the producer's codec) leave keys, values, headers, timestamps and
    offsets as a plugin-less topic would."""
    bs = plugged.bootstrap
    assert plugin_info(plugged, "noop")["abi"] == "0.2.0"
    records = [{"key": f"k{i}".encode() if i % 3 else None,
                "value": (f"value {i} " * 20).encode() if i != 7 else None,
                "headers": [("h", str(i).encode()), ("trace", b"t")] if i % 2 else [],
                "timestamp": 1_700_000_000_000 + 13 * i} for i in range(40)]
    for chain, added in (("noop", []), ("noop,tagger", [("weir-version", b"v1")])):
        topic = create_topic(bs, unique(f"z-{codec}"), config={"weir.plugins": chain})
        prod = one_batch_producer(bs, **{"compression.type": codec})
        assert_delivered(produce_sync(prod, topic, records))
        got = consume_partition(bs, topic, 0, expected=len(records))
        assert [m.offset() for m in got] == list(range(len(records))), chain
        assert [(m.key(), m.value(), norm_headers(m.headers()), m.timestamp()[1]) for m in got] == [
            (r["key"], r["value"], r["headers"] + added, r["timestamp"]) for r in records], chain


def test_attach_and_detach_with_incremental_alter_configs(plugged):
    """weir.plugins set on an existing topic applies to the next produce; DELETE detaches."""
    bs = plugged.bootstrap
    a = admin(bs)
    topic = create_topic(bs, unique("attach"))
    assert_delivered(produce_sync(producer(bs), topic, [{"value": b"before"}]))
    incremental_set(a, topic, **{"weir.plugins": "tagger", "weir.plugin.tagger.tag": "t-42"})
    assert topic in plugin_info(plugged, "tagger")["topics"]
    assert_delivered(produce_sync(producer(bs), topic, [{"value": b"tagged",
                                                         "headers": [("own", b"x")]}]))
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("weir.plugins", None, incremental_operation=AlterConfigOpType.DELETE)])
    assert a.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=T) is None
    assert describe(a, topic)["weir.plugins"].source != DYNAMIC
    assert topic not in plugin_info(plugged, "tagger")["topics"]
    assert_delivered(produce_sync(producer(bs), topic, [{"value": b"after"}]))

    msgs = consume_partition(bs, topic, 0, expected=3)
    assert [(m.value(), norm_headers(m.headers())) for m in msgs] == [
        (b"before", []),
        (b"tagged", [("own", b"x"), ("weir-version", b"t-42")]),
        (b"after", []),
    ]


# ---------------------------------------------------------------------------
# 3. A transform is what every consumer reads

PII_IN = [
    {"key": b"u1", "value": b"mail jane.doe+x@example.co.uk now", "headers": [("src", b"py")]},
    {"key": b"u2", "value": b'{"card":"4111 1111 1111 1111","n":1}'},
    {"key": b"u3", "value": b"pan 5500-0000-0000-0004."},
    {"key": b"u4", "value": b"4111 1111 1111 1112"},  # fails the Luhn check: kept
    {"key": b"u5", "value": b"nothing to hide"},
]


def pii_expected(mask):
    return [
        (b"u1", b"mail " + mask + b" now"),
        (b"u2", b'{"card":"' + mask + b'","n":1}'),
        (b"u3", b"pan " + mask + b"."),
        (b"u4", b"4111 1111 1111 1112"),
        (b"u5", b"nothing to hide"),
    ]


@pytest.mark.skipif(KCAT is None, reason="kcat not installed (run.sh installs it)")
def test_pii_redaction_seen_by_every_consumer(plugged):
    bs = plugged.bootstrap
    topic = create_topic(bs, unique("pii"), config={"weir.plugins": "pii-redact"})
    # Same plugin, per-topic mask.
    masked = create_topic(bs, unique("pii-mask"), config={"weir.plugins": "pii-redact",
                                                          "weir.plugin.pii-redact.mask": "***"})
    p = one_batch_producer(bs)
    delivered = assert_delivered(produce_sync(p, topic, PII_IN))
    assert [m.offset() for m in delivered] == [0, 1, 2, 3, 4]
    assert_delivered(produce_sync(p, masked, PII_IN))
    want = pii_expected(b"[REDACTED]")

    got = consume_partition(bs, topic, 0, expected=5)
    assert [(m.key(), m.value()) for m in got] == want
    assert [m.offset() for m in got] == [0, 1, 2, 3, 4]
    assert norm_headers(got[0].headers()) == [("src", b"py")]

    kp = kp_read(plugged, topic, 5)
    assert [(r.key, r.value) for r in kp] == want
    assert [r.offset for r in kp] == [0, 1, 2, 3, 4]
    assert [(k, v) for k, v in kp[0].headers] == [("src", b"py")]

    assert kcat_read(plugged, topic) == [
        f"{i}|{k.decode()}|{v.decode()}|{'src=py' if i == 0 else ''}"
        for i, (k, v) in enumerate(want)]

    assert [(m.key(), m.value()) for m in consume_partition(bs, masked, 0, expected=5)] == (
        pii_expected(b"***"))


# ---------------------------------------------------------------------------
# 4. Router: one topic split into several

def test_router_splits_a_topic(plugged):
    bs = plugged.bootstrap
    eu, us = create_topic(bs, unique("orders-eu")), create_topic(bs, unique("orders-us"))
    dlq = unique("orders-dead")
    topic = create_topic(bs, unique("orders"), config={
        "weir.plugins": "router",
        "weir.plugin.router.field": "region",
        "weir.plugin.router.route.eu": eu,
        "weir.plugin.router.route.us": us,
        "weir.dlq.topic": dlq,
    })
    cfg = describe(admin(bs), topic)
    assert cfg["weir.plugin.router.field"].value == "region"
    assert cfg["weir.plugin.router.route.eu"].value == eu
    assert cfg["weir.dlq.topic"].value == dlq and cfg["weir.dlq.topic"].source == DYNAMIC

    records = [
        {"key": b"o1", "value": b'{"region":"eu","id":1}', "headers": [("h", b"1")]},
        {"key": b"o2", "value": b'{"region":"us","id":2}'},
        {"key": b"o3", "value": b'{"region":"apac","id":3}'},
        {"key": b"o4", "value": b'{"region":"eu","id":4}'},
        {"key": b"o5", "value": b"not json"},
    ]
    assert_delivered(produce_sync(one_batch_producer(bs), topic, records))

    got_eu = consume_partition(bs, eu, 0, expected=2)
    assert kv(got_eu) == [(0, b"o1", b'{"region":"eu","id":1}'),
                          (1, b"o4", b'{"region":"eu","id":4}')]
    assert norm_headers(got_eu[0].headers()) == [("h", b"1")]
    assert kv(consume_partition(bs, us, 0, expected=1)) == [(0, b"o2", b'{"region":"us","id":2}')]
    # No route for apac and no default: it stays, at the offset its producer was told (2).
    assert kv(consume_partition(bs, topic, 0, expected=1)) == [
        (2, b"o3", b'{"region":"apac","id":3}')]
    # Not JSON: the plugin dead-letters it, to the topic's weir.dlq.topic.
    [dead] = consume_partition(bs, dlq, 0, expected=1)
    assert (dead.key(), dead.value()) == (b"o5", b"not json")
    h = dict(norm_headers(dead.headers()))
    assert h["weir.dlq.reason"] == b"invalid JSON: expected ident at line 1 column 2"
    assert h["weir.dlq.plugin"] == b"router"
    assert h["weir.dlq.source.topic"] == topic.encode()
    # The default <topic>.dlq was not used.
    md = admin(bs).list_topics(timeout=10)
    assert f"{topic}.dlq" not in md.topics


# ---------------------------------------------------------------------------
# 5. kafka-python: what it makes of the rejection

def test_kafka_python_rejection_error(plugged):
    topic = create_topic(plugged.bootstrap, unique("kp-guard"), config={"weir.plugins": "guard"})
    p = kp_producer(plugged)
    try:
        fs = [p.send(topic, value=v) for v in (b"fine", b"bad one", b"also fine")]
        p.flush(30)
        outcomes = [kp_outcome(f) for f in fs]
        # kafka-python 2.3 implements KIP-467: the rejected record fails with the broker's
        # per-record message (batch_index_error_message), its batch siblings with a generic
        # KafkaError.
        assert outcomes == [
            (kerrors.KafkaError, f"KafkaError: {KP_BATCH_SIBLING_TEXT}"),
            (kerrors.InvalidRecordError,
             "[Error 87] InvalidRecordError: rejected by plugin 'guard': "
             'contains forbidden word "bad"'),
            (kerrors.KafkaError, f"KafkaError: {KP_BATCH_SIBLING_TEXT}"),
        ]
        err = pytest.raises(kerrors.InvalidRecordError, fs[1].get, 1).value
        assert err.errno == 87 and not err.retriable
        assert err.args == ("rejected by plugin 'guard': contains forbidden word \"bad\"",)

        # Two rejected records: each gets its own message.
        fs = [p.send(topic, value=v) for v in (b"bad", b"ok", b"badder")]
        p.flush(30)
        assert [kp_outcome(f) for f in fs] == [
            (kerrors.InvalidRecordError, "[Error 87] InvalidRecordError: rejected by plugin "
             "'guard': contains forbidden word \"bad\""),
            (kerrors.KafkaError, f"KafkaError: {KP_BATCH_SIBLING_TEXT}"),
            (kerrors.InvalidRecordError, "[Error 87] InvalidRecordError: rejected by plugin "
             "'guard': contains forbidden word \"bad\""),
        ]
        assert watermarks(plugged.bootstrap, topic, 0) == (0, 0)
        assert kp_outcome(p.send(topic, value=b"good")) == ("ok", 0)
    finally:
        p.close(5)


def test_produce_response_error_message_raw(plugged):
    """The Produce v8 response itself (kafka-python's protocol classes over its KafkaClient):
    INVALID_RECORD, error_message naming the first rejected record and the count of the
    others, record_errors with every rejected batch index."""
    from kafka.client_async import KafkaClient
    from kafka.protocol.produce import ProduceRequest
    from kafka.record.memory_records import MemoryRecordsBuilder

    topic = create_topic(plugged.bootstrap, unique("raw-guard"), config={"weir.plugins": "guard"})
    builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    for v in (b"good", b"bad", b"good", b"so bad"):
        builder.append(timestamp=None, key=None, value=v, headers=[])
    builder.close()
    req = ProduceRequest[8](transactional_id=None, required_acks=1, timeout=10000,
                            topics=[(topic, [(0, builder.buffer())])])
    client = KafkaClient(bootstrap_servers=plugged.bootstrap, request_timeout_ms=20000)
    try:
        deadline = time.monotonic() + 20
        while not client.ready(1):
            assert time.monotonic() < deadline, "kafka-python client not ready for node 1"
            client.poll(timeout_ms=100)
        fut = client.send(1, req)
        client.poll(future=fut, timeout_ms=20000)
        assert fut.succeeded(), fut.exception
        [(name, [part])] = fut.value.topics
    finally:
        client.close()
    assert name == topic
    index, code, offset, _ts, _start, record_errors, message = part
    assert (index, code, offset) == (0, 87, -1)
    reason = "rejected by plugin 'guard': contains forbidden word \"bad\""
    assert message == f"record 1: {reason} (and 1 more rejected)"
    assert record_errors == [(1, reason), (3, reason)]
    assert watermarks(plugged.bootstrap, topic, 0) == (0, 0)


# ---------------------------------------------------------------------------
# 6. Failing plugins: a trap and an endless loop

def test_trapping_and_looping_plugins_fail_the_produce(plugged):
    bs = plugged.bootstrap
    trap = create_topic(bs, unique("trap"), config={"weir.plugins": "trap"})
    loop = create_topic(bs, unique("loop"), config={"weir.plugins": "loop"})
    plain = create_topic(bs, unique("plain"))
    p = producer(bs)

    for topic in (trap, loop):
        started = time.monotonic()
        [(err, _m)] = produce_sync(p, topic, [{"value": b"x" * 10}])
        took = time.monotonic() - started
        assert err is not None and err.code() == KafkaError.INVALID_RECORD, (topic, err)
        assert err.str() == RDKAFKA_INVALID_RECORD_TEXT
        assert took < 10, f"produce to {topic} took {took:.1f}s"
        assert watermarks(bs, topic, 0) == (0, 0)
        # The same client session keeps working on a topic without plugins.
        [m] = assert_delivered(produce_sync(p, plain, [{"value": topic.encode()}]))
        assert m.topic() == plain

    assert [m.value() for m in consume_partition(bs, plain, 0, expected=2)] == [
        trap.encode(), loop.encode()]

    trap_info = plugin_info(plugged, "trap")
    assert trap_info["health"]["state"] == "failing"
    assert trap_info["health"]["consecutive_failures"] >= 1
    assert trap_info["health"]["last_error"] == (
        "plugin trapped: wasm trap: wasm `unreachable` instruction executed")
    loop_info = plugin_info(plugged, "loop")
    assert loop_info["health"]["state"] == "failing"
    assert loop_info["health"]["last_error"] == "plugin exceeded its time budget of 200 ms"
    status, logs = http_json(plugged, "GET", "/v1/plugins/loop/logs")
    assert status == 200
    assert any(line["level"] == "error" and line["message"] ==
               f"[{loop}] plugin 'loop' 1.0.0 failed: plugin exceeded its time budget of 200 ms"
               for line in logs), logs

    # kafka-python shows the broker's message for the failure.
    kp = kp_producer(plugged, linger_ms=5)
    try:
        assert kp_outcome(kp.send(trap, value=b"y")) == (
            kerrors.InvalidRecordError,
            "[Error 87] InvalidRecordError: plugin 'trap' 1.0.0 failed: plugin trapped: wasm trap: "
            "wasm `unreachable` instruction executed")
        assert kp_outcome(kp.send(loop, value=b"y")) == (
            kerrors.InvalidRecordError,
            "[Error 87] InvalidRecordError: plugin 'loop' 1.0.0 failed: plugin exceeded its time "
            "budget of 200 ms")
        assert kp_outcome(kp.send(plain, value=b"z")) == ("ok", 2)
    finally:
        kp.close(5)
    assert plugged.alive()
