"""kafka-python (pure Python client) against Weir."""

import importlib.util
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import InvalidTopicError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from weirtest import admin, config_entries, create_topic, unique, wait_until

CODECS = ["gzip"] + (["lz4"] if importlib.util.find_spec("lz4") else [])


def kp_admin(b):
    return KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=20000,
                            client_id="weir-compat-kafka-python")


def kp_producer(b, **cfg):
    conf = dict(bootstrap_servers=b.bootstrap, acks=1, enable_idempotence=False, linger_ms=10,
                request_timeout_ms=20000, max_block_ms=20000)
    conf.update(cfg)
    return KafkaProducer(**conf)


def kp_consumer(b):
    return KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", request_timeout_ms=30000,
                         fetch_max_wait_ms=200)


def consume_all(c, n, timeout=30.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for _tp, recs in c.poll(timeout_ms=500).items():
            out.extend(recs)
    assert len(out) == n, f"got {len(out)} of {n} records within {timeout}s"
    return out


def confluent_topics(b):
    return set(admin(b.bootstrap).list_topics(timeout=10).topics)


def test_admin_create_describe_delete(broker):
    a = kp_admin(broker)
    try:
        name = unique("kp-admin")
        resp = a.create_topics([NewTopic(name, 2, 1, topic_configs={"retention.ms": "3600000"})])
        assert all(err == 0 for _t, err, *_ in resp.topic_errors)
        # (metadata checked with librdkafka here; kafka-python's own metadata
        # calls are covered by test_admin_metadata_authorized_operations)
        wait_until(lambda: name in confluent_topics(broker), desc="created topic listed")

        cfg = config_entries(a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)]), name)
        assert cfg.get("retention.ms") == "3600000"
        assert "segment.bytes" in cfg

        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([NewTopic(name, 1, 1)])
        with pytest.raises(InvalidTopicError):
            a.create_topics([NewTopic("bad/name", 1, 1)])

        a.create_partitions({name: NewPartitions(3)})
        wait_until(lambda: len(admin(broker.bootstrap).list_topics(timeout=10).topics[name].partitions) == 3,
                   desc="3 partitions after create_partitions")

        resp = a.delete_topics([name])
        assert all(err == 0 for _t, err, *_ in resp.topic_error_codes)
        wait_until(lambda: name not in confluent_topics(broker), desc="deleted topic gone")
        with pytest.raises(UnknownTopicOrPartitionError):
            a.delete_topics([name])
    finally:
        a.close()


def test_admin_metadata_authorized_operations(broker):
    """KafkaAdminClient.list_topics/describe_topics/describe_cluster send Metadata v8
    with include_{cluster,topic}_authorized_operations=true and decode the returned
    bit sets into ACLOperation values (Apache Kafka without an authorizer returns the
    allowed operations, e.g. cluster 8096, never the INT32_MIN 'not requested' value)."""
    name = create_topic(broker.bootstrap, unique("kp-md"), partitions=2)
    a = kp_admin(broker)
    try:
        assert name in a.list_topics()
        desc = a.describe_topics([name])
        assert len(desc) == 1 and desc[0]["error_code"] == 0
        assert sorted(p["partition"] for p in desc[0]["partitions"]) == [0, 1]
        assert all(p["leader"] == 1 for p in desc[0]["partitions"])
        cluster = a.describe_cluster()
        assert [b["node_id"] for b in cluster["brokers"]] == [1]
        assert cluster["controller_id"] == 1
        assert cluster["cluster_id"]
    finally:
        a.close()


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_roundtrip(broker, codec):
    a = kp_admin(broker)
    name = unique(f"kp-{codec}")
    try:
        a.create_topics([NewTopic(name, 2, 1)])
    finally:
        a.close()
    p = kp_producer(broker, compression_type=codec)
    recs = []
    for i in range(40):
        recs.append(dict(partition=i % 2, key=f"key-{i}".encode(), value=f"kp-{codec}-{i}".encode() * 3,
                         headers=[("h", f"{i}".encode()), ("dup", b"1"), ("dup", b"2")],
                         timestamp_ms=1_650_000_000_000 + i))
    recs.append(dict(partition=0, key=b"tomb", value=None, headers=[], timestamp_ms=1_650_000_001_000))
    recs.append(dict(partition=1, key=None, value=b"", headers=[("e", b"")], timestamp_ms=1_650_000_001_001))
    futures = [p.send(name, **r) for r in recs]
    p.flush(timeout=30)
    metas = [f.get(timeout=30) for f in futures]
    p.close(timeout=10)
    for part in (0, 1):
        offs = [m.offset for m, r in zip(metas, recs) if r["partition"] == part]
        assert offs == list(range(len(offs))), f"partition {part} offsets {offs}"

    c = kp_consumer(broker)
    try:
        tps = [TopicPartition(name, 0), TopicPartition(name, 1)]
        c.assign(tps)
        c.seek_to_beginning()
        got = consume_all(c, len(recs))
        assert c.end_offsets(tps) == {tps[0]: 21, tps[1]: 21}
        assert c.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
        ts = c.offsets_for_times({tps[0]: 1_650_000_000_010})
        assert ts[tps[0]].offset == 5  # records 0,2,4,...: i=10 is the 6th on partition 0
    finally:
        c.close()
    for part in (0, 1):
        exp = [r for r in recs if r["partition"] == part]
        mine = sorted((m for m in got if m.partition == part), key=lambda m: m.offset)
        assert [m.offset for m in mine] == list(range(len(exp)))
        for m, r in zip(mine, exp):
            assert m.key == r["key"]
            assert m.value == r["value"]
            assert list(m.headers) == r["headers"]
            assert m.timestamp == r["timestamp_ms"]

