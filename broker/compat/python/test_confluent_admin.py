"""confluent-kafka AdminClient (and consumer offset lookups) against Weir."""

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AclOperation,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from weirtest import (
    admin,
    assert_delivered,
    consume_partition,
    consumer,
    create_topic,
    produce_sync,
    producer,
    unique,
    wait_until,
    watermarks,
)

T = 20  # seconds, admin request timeout


def error_code(exc_info):
    err = exc_info.value.args[0]
    return err.code() if isinstance(err, KafkaError) else None


def describe(a, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    return a.describe_configs([res], request_timeout=T)[res].result(timeout=T)


def topic_names(a):
    return set(a.list_topics(timeout=10).topics)


def test_create_topic_with_configs_and_metadata(broker):
    a = admin(broker.bootstrap)
    name = unique("adm")
    fs = a.create_topics([NewTopic(name, num_partitions=2, replication_factor=1,
                                   config={"retention.ms": "123456", "max.message.bytes": "500000"})],
                         request_timeout=T)
    assert fs[name].result(timeout=T) is None

    def md_ready():
        t = a.list_topics(timeout=10).topics.get(name)
        return t if t is not None and len(t.partitions) == 2 else None

    t = wait_until(md_ready, desc="topic in metadata")
    assert t.error is None
    for pid, p in t.partitions.items():
        assert p.leader == 1, f"partition {pid} leader {p.leader}"
        assert list(p.replicas) == [1]
        assert list(p.isrs) == [1]
        assert p.error is None
    md = a.list_topics(timeout=10)
    assert set(md.brokers) == {1}
    b = md.brokers[1]
    assert f"{b.host}:{b.port}" == broker.bootstrap, "advertised address must equal bootstrap"
    assert md.controller_id == 1


def test_create_topic_validate_only_does_not_create(broker):
    a = admin(broker.bootstrap)
    name = unique("vonly")
    fs = a.create_topics([NewTopic(name, num_partitions=3, replication_factor=1,
                                   config={"retention.ms": "1000"})],
                         validate_only=True, request_timeout=T)
    assert fs[name].result(timeout=T) is None
    assert name not in topic_names(a)
    # and it can still be created for real afterwards
    fs = a.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)], request_timeout=T)
    assert fs[name].result(timeout=T) is None
    wait_until(lambda: name in topic_names(a), desc="topic created after validate_only")


def test_create_existing_topic_fails(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("dup"), partitions=1)
    fs = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[name].result(timeout=T)
    assert error_code(ei) == KafkaError.TOPIC_ALREADY_EXISTS


@pytest.mark.parametrize("bad", ["bad/name", "..", ".", "a" * 250, "spaces not ok"])
def test_create_invalid_topic_name(broker, bad):
    a = admin(broker.bootstrap)
    fs = a.create_topics([NewTopic(bad, num_partitions=1, replication_factor=1)], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[bad].result(timeout=T)
    assert error_code(ei) == KafkaError.TOPIC_EXCEPTION, str(ei.value)  # INVALID_TOPIC_EXCEPTION (17)
    assert bad not in topic_names(a)


def test_create_topic_unknown_config_rejected(broker):
    a = admin(broker.bootstrap)
    name = unique("badcfg")
    fs = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1,
                                   config={"no.such.config": "1"})], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[name].result(timeout=T)
    assert error_code(ei) == KafkaError.INVALID_CONFIG
    assert name not in topic_names(a)


def test_describe_configs_default_vs_set(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("desc"), config={"retention.ms": "123456"})
    cfg = describe(a, name)
    for key in ["retention.ms", "retention.bytes", "segment.bytes", "max.message.bytes",
                "cleanup.policy"]:
        assert key in cfg, f"{key} missing from DescribeConfigs: {sorted(cfg)}"
    r = cfg["retention.ms"]
    assert r.value == "123456"
    assert r.is_default is False
    assert r.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    seg = cfg["segment.bytes"]
    assert seg.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert seg.value is not None and int(seg.value) > 0
    assert cfg["cleanup.policy"].value == "delete"
    assert cfg["cleanup.policy"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def test_describe_configs_unknown_topic(broker):
    a = admin(broker.bootstrap)
    with pytest.raises(KafkaException) as ei:
        describe(a, unique("nosuch"))
    assert error_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_alter_configs_replaces_set(broker):
    """Legacy AlterConfigs replaces the whole set of topic overrides."""
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("alter"),
                        config={"retention.ms": "123456", "max.message.bytes": "500000"})
    res = ConfigResource(ResourceType.TOPIC, name, set_config={"retention.ms": "5000"})
    assert a.alter_configs([res], request_timeout=T)[res].result(timeout=T) is None
    cfg = describe(a, name)
    assert cfg["retention.ms"].value == "5000"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["max.message.bytes"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value, (
        "AlterConfigs (non-incremental) must drop overrides that are not in the request")
    assert cfg["max.message.bytes"].value != "500000"

    bad = ConfigResource(ResourceType.TOPIC, name, set_config={"no.such.config": "1"})
    with pytest.raises(KafkaException) as ei:
        a.alter_configs([bad], request_timeout=T)[bad].result(timeout=T)
    assert error_code(ei) == KafkaError.INVALID_CONFIG


def test_incremental_alter_configs(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("incr"),
                        config={"retention.ms": "123456", "max.message.bytes": "500000"})
    res = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    assert a.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=T) is None
    cfg = describe(a, name)
    assert cfg["retention.bytes"].value == "1048576"
    assert cfg["retention.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["retention.ms"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["retention.ms"].value != "123456"
    # untouched override survives an incremental alter
    assert cfg["max.message.bytes"].value == "500000"
    assert cfg["max.message.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value

    bad = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)])
    with pytest.raises(KafkaException) as ei:
        a.incremental_alter_configs([bad], request_timeout=T)[bad].result(timeout=T)
    assert error_code(ei) == KafkaError.INVALID_CONFIG

    # APPEND to a config that is not a list is refused with Kafka's words.
    bad = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("max.message.bytes", "1", incremental_operation=AlterConfigOpType.APPEND)])
    with pytest.raises(KafkaException) as ei:
        a.incremental_alter_configs([bad], request_timeout=T)[bad].result(timeout=T)
    assert error_code(ei) == KafkaError.INVALID_CONFIG
    assert "Can't APPEND to key max.message.bytes because its type is not LIST" in str(ei.value)
    assert describe(a, name)["max.message.bytes"].value == "500000"


def test_create_partitions(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("grow"), partitions=1)
    fs = a.create_partitions([NewPartitions(name, 3)], request_timeout=T)
    assert fs[name].result(timeout=T) is None

    def three():
        t = a.list_topics(timeout=10).topics[name]
        return len(t.partitions) == 3 and all(p.leader == 1 for p in t.partitions.values())

    wait_until(three, desc="3 partitions in metadata")
    prod = producer(broker.bootstrap, **{"topic.metadata.refresh.interval.ms": 1000})
    delivered = assert_delivered(produce_sync(prod, name, [{"partition": 2, "value": b"p2"}]))
    assert (delivered[0].partition(), delivered[0].offset()) == (2, 0)
    assert [m.value() for m in consume_partition(broker.bootstrap, name, 2, expected=1)] == [b"p2"]

    # shrinking is not allowed
    fs = a.create_partitions([NewPartitions(name, 2)], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[name].result(timeout=T)
    assert error_code(ei) == KafkaError.INVALID_PARTITIONS


def test_requests_for_too_many_partitions_are_refused(broker):
    """A request creating more than 10,000 partitions in all is refused with POLICY_VIOLATION, as
    Kafka's controller refuses it; a corrupted partition count (one flipped bit made 536,870,915)
    had the broker building metadata until it ran out of memory."""
    a = admin(broker.bootstrap)
    huge, pair = unique("huge"), [unique("half"), unique("half")]
    for topics in ([NewTopic(huge, num_partitions=100000, replication_factor=1)],
                   [NewTopic(n, num_partitions=6000, replication_factor=1) for n in pair]):
        for validate_only in (True, False):
            fs = a.create_topics(topics, validate_only=validate_only, request_timeout=T)
            for t in topics:
                with pytest.raises(KafkaException) as ei:
                    fs[t.topic].result(timeout=T)
                assert error_code(ei) == KafkaError.POLICY_VIOLATION
                assert "Excessively large number of partitions" in str(ei.value)
    names = topic_names(a)
    assert huge not in names and not set(pair) & names
    grown = create_topic(broker.bootstrap, unique("grow"), partitions=1)
    fs = a.create_partitions([NewPartitions(grown, 100000)], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[grown].result(timeout=T)
    assert error_code(ei) == KafkaError.POLICY_VIOLATION
    assert len(a.list_topics(timeout=10).topics[grown].partitions) == 1
    # The broker goes on: a normal request still works.
    assert create_topic(broker.bootstrap, unique("after"), partitions=2)


def test_delete_topic(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("del"), partitions=2)
    prod = producer(broker.bootstrap)
    assert_delivered(produce_sync(prod, name, [{"partition": 0, "value": b"gone"}]))
    fs = a.delete_topics([name], request_timeout=T)
    assert fs[name].result(timeout=T) is None
    wait_until(lambda: name not in topic_names(a), desc="deleted topic gone from metadata")

    # deleting again -> unknown topic
    fs = a.delete_topics([name], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[name].result(timeout=T)
    assert error_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART

    # recreating the same name yields a fresh, empty topic
    def recreate():
        f = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)],
                            request_timeout=T)[name]
        try:
            f.result(timeout=T)
            return True
        except KafkaException as e:
            if e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return False  # deletion still in progress
            raise

    wait_until(recreate, desc="re-create deleted topic")
    wait_until(lambda: name in topic_names(a), desc="recreated topic visible")
    assert watermarks(broker.bootstrap, name, 0) == (0, 0)


def test_delete_records_moves_low_watermark(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("delrec"), partitions=1)
    prod = producer(broker.bootstrap)
    assert_delivered(produce_sync(prod, name, [{"partition": 0, "value": f"r{i}".encode()}
                                               for i in range(10)]))
    tp = TopicPartition(name, 0, 4)
    fs = a.delete_records([tp], request_timeout=T)
    res = list(fs.values())[0].result(timeout=T)
    assert res.low_watermark == 4
    assert watermarks(broker.bootstrap, name, 0) == (4, 10)
    msgs = consume_partition(broker.bootstrap, name, 0, expected=6)
    assert [m.offset() for m in msgs] == list(range(4, 10))
    assert [m.value() for m in msgs] == [f"r{i}".encode() for i in range(4, 10)]

    # fetching below the new log start offset -> OFFSET_OUT_OF_RANGE
    c = consumer(broker.bootstrap, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(name, 0, 2)])
        got_err, got_msgs = None, []
        deadline = time.monotonic() + 15
        while got_err is None and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error() is None:
                got_msgs.append(m.offset())
            elif m.topic() == name and m.error().code() != KafkaError._PARTITION_EOF:
                got_err = m.error()
    finally:
        c.close()
    assert not got_msgs, f"served deleted offsets {got_msgs}"
    assert got_err is not None and got_err.code() in (KafkaError._AUTO_OFFSET_RESET,
                                                      KafkaError.OFFSET_OUT_OF_RANGE), got_err

    # beyond the high watermark -> OFFSET_OUT_OF_RANGE
    fs = a.delete_records([TopicPartition(name, 0, 11)], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        list(fs.values())[0].result(timeout=T)
    assert error_code(ei) == KafkaError.OFFSET_OUT_OF_RANGE
    assert watermarks(broker.bootstrap, name, 0) == (4, 10)


def test_delete_records_is_refused_on_a_compact_only_topic(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("delrec-compact"), partitions=1,
                        config={"cleanup.policy": "compact"})
    prod = producer(broker.bootstrap)
    assert_delivered(produce_sync(prod, name, [{"partition": 0, "key": b"k", "value": f"r{i}".encode()}
                                               for i in range(5)]))
    fs = a.delete_records([TopicPartition(name, 0, 3)], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        list(fs.values())[0].result(timeout=T)
    assert error_code(ei) == KafkaError.POLICY_VIOLATION
    assert watermarks(broker.bootstrap, name, 0) == (0, 5)
    # compact,delete allows it, as in Kafka.
    both = create_topic(broker.bootstrap, unique("delrec-both"), partitions=1,
                        config={"cleanup.policy": "compact,delete"})
    assert_delivered(produce_sync(prod, both, [{"partition": 0, "key": b"k", "value": b"v"}] * 5))
    res = list(a.delete_records([TopicPartition(both, 0, 3)], request_timeout=T).values())[0].result(timeout=T)
    assert res.low_watermark == 3


def test_kafka_4_topic_configs_are_accepted(broker):
    # What tools copying topics from a Kafka 4 cluster send (MirrorMaker 2, Terraform).
    a = admin(broker.bootstrap)
    name = unique("k4cfg")
    config = {
        "compression.gzip.level": "5",
        "compression.lz4.level": "9",
        "compression.zstd.level": "3",
        "local.retention.ms": "-2",
        "local.retention.bytes": "-2",
        "remote.storage.enable": "false",
        "leader.replication.throttled.replicas": "*",
        "follower.replication.throttled.replicas": "",
    }
    fs = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config)],
                         request_timeout=T)
    fs[name].result(timeout=T)
    got = describe(a, name)
    for k, v in config.items():
        assert got[k].value == v, (k, got[k].value)
    bad = unique("k4bad")
    fs = a.create_topics([NewTopic(bad, num_partitions=1, replication_factor=1,
                                   config={"compression.zstd.level": "99"})], request_timeout=T)
    with pytest.raises(KafkaException) as ei:
        fs[bad].result(timeout=T)
    assert error_code(ei) == KafkaError.INVALID_CONFIG


def test_describe_cluster(broker):
    a = admin(broker.bootstrap)
    desc = a.describe_cluster(request_timeout=T).result(timeout=T)
    assert desc.cluster_id, "cluster id must be non-empty"
    assert len(desc.nodes) == 1
    node = desc.nodes[0]
    assert node.id == 1
    assert f"{node.host}:{node.port}" == broker.bootstrap
    assert desc.controller is not None and desc.controller.id == 1
    md = a.list_topics(timeout=10)
    assert md.cluster_id == desc.cluster_id, "Metadata and DescribeCluster disagree on cluster id"


@pytest.fixture(scope="module")
def ts_topic(broker):
    name = create_topic(broker.bootstrap, unique("ts"), partitions=1)
    prod = producer(broker.bootstrap)
    delivered = assert_delivered(produce_sync(prod, name, [
        {"partition": 0, "value": b"t1000", "timestamp": 1000},
        {"partition": 0, "value": b"t2000", "timestamp": 2000},
        {"partition": 0, "value": b"t3000", "timestamp": 3000},
    ]))
    assert [m.offset() for m in delivered] == [0, 1, 2]
    return name


@pytest.mark.parametrize("spec_ts,offset", [
    (0, 0), (1000, 0), (1500, 1), (2000, 1), (3000, 2), (3001, -1), (99999999999999, -1),
])
def test_list_offsets_for_timestamp(broker, ts_topic, spec_ts, offset):
    a = admin(broker.bootstrap)
    tp = TopicPartition(ts_topic, 0)
    res = a.list_offsets({tp: OffsetSpec.for_timestamp(spec_ts)}, request_timeout=T)
    info = list(res.values())[0].result(timeout=T)
    assert info.offset == offset
    if offset >= 0:
        assert info.timestamp == (1000, 2000, 3000)[offset]


def test_list_offsets_earliest_latest_max(broker, ts_topic):
    a = admin(broker.bootstrap)
    tp = TopicPartition(ts_topic, 0)
    got = {}
    for label, spec in [("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest()),
                        ("max", OffsetSpec.max_timestamp())]:
        got[label] = list(a.list_offsets({tp: spec}, request_timeout=T).values())[0].result(timeout=T)
    assert got["earliest"].offset == 0
    assert got["latest"].offset == 3
    assert got["max"].offset == 2
    assert got["max"].timestamp == 3000


def test_list_offsets_max_timestamp_non_monotonic(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("maxts"), partitions=1)
    prod = producer(broker.bootstrap)
    assert_delivered(produce_sync(prod, name, [
        {"partition": 0, "value": b"a", "timestamp": 1000},
        {"partition": 0, "value": b"b", "timestamp": 5000},
        {"partition": 0, "value": b"c", "timestamp": 2000},
    ]))
    # KIP-734: the offset of the record carrying the max timestamp (1), not the
    # last offset of its batch. (Apache Kafka 3.7 answers 2 here: KAFKA-16310.)
    tp = TopicPartition(name, 0)
    info = list(a.list_offsets({tp: OffsetSpec.max_timestamp()}, request_timeout=T).values())[0] \
        .result(timeout=T)
    assert (info.offset, info.timestamp) == (1, 5000)


def test_consumer_offsets_for_times_and_watermarks(broker, ts_topic):
    c = consumer(broker.bootstrap)
    try:
        res = c.offsets_for_times([TopicPartition(ts_topic, 0, 2000)], timeout=T)
        assert res[0].error is None
        assert res[0].offset == 1
        res = c.offsets_for_times([TopicPartition(ts_topic, 0, 99999999999999)], timeout=T)
        assert res[0].offset == -1  # OFFSET_END: no record at/after that time
        assert c.get_watermark_offsets(TopicPartition(ts_topic, 0), timeout=T, cached=False) == (0, 3)
    finally:
        c.close()


def test_describe_topics(broker):
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("dt"), partitions=2)
    t = a.describe_topics(TopicCollection([name]), request_timeout=T)[name].result(timeout=T)
    assert t.name == name
    assert t.topic_id is not None and str(t.topic_id) != "AAAAAAAAAAAAAAAAAAAAAA", "topic id must be set"
    assert [(p.id, p.leader.id, [r.id for r in p.replicas], [r.id for r in p.isr])
            for p in t.partitions] == [(0, 1, [1], [1]), (1, 1, [1], [1])]
    missing = unique("nosuch")
    with pytest.raises(KafkaException) as ei:
        a.describe_topics(TopicCollection([missing]), request_timeout=T)[missing].result(timeout=T)
    assert error_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert missing not in topic_names(a), "describe_topics must not auto-create"


def test_topic_authorized_operations_reported(broker):
    """With include_authorized_operations=True a broker without an authorizer
    reports what is allowed (Apache Kafka: everything). librdkafka returns None
    when the broker sends the INT32_MIN 'not requested' sentinel."""
    a = admin(broker.bootstrap)
    name = create_topic(broker.bootstrap, unique("ops"), partitions=1)
    t = a.describe_topics(TopicCollection([name]), include_authorized_operations=True,
                          request_timeout=T)[name].result(timeout=T)
    assert t.authorized_operations, "Metadata: topic authorized operations missing"
    assert AclOperation.DESCRIBE in t.authorized_operations
    assert AclOperation.WRITE in t.authorized_operations


def test_cluster_authorized_operations_reported(broker):
    a = admin(broker.bootstrap)
    c = a.describe_cluster(include_authorized_operations=True, request_timeout=T).result(timeout=T)
    assert c.authorized_operations, "DescribeCluster: cluster authorized operations missing"
    assert AclOperation.DESCRIBE in c.authorized_operations
