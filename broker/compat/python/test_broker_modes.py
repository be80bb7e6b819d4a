"""Broker flags and per-topic limits: auto-create off/on, max.message.bytes."""

from confluent_kafka import KafkaError

from weirtest import (
    admin,
    assert_delivered,
    consume_partition,
    create_topic,
    produce_sync,
    producer,
    unique,
    wait_until,
)


def test_auto_create_off_unknown_topic(broker_factory):
    b = broker_factory("--auto-create-topics", "false", name="noauto")
    missing = unique("missing")
    prod = producer(b.bootstrap, **{"topic.metadata.propagation.max.ms": 1000,
                                    "message.timeout.ms": 15000})
    results = produce_sync(prod, missing, [{"value": b"lost"}], timeout=30)
    err, _msg = results[0]
    assert err is not None, "produce to an unknown topic must fail when auto-create is off"
    assert err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), str(err)

    a = admin(b.bootstrap)
    md = a.list_topics(topic=missing, timeout=10)
    t = md.topics.get(missing)
    assert t is not None and t.error is not None
    assert t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert missing not in a.list_topics(timeout=10).topics, "topic must not have been created"

    # broker keeps serving: explicit creation + round trip works
    name = create_topic(b.bootstrap, unique("explicit"), partitions=1)
    delivered = assert_delivered(produce_sync(producer(b.bootstrap), name, [{"value": b"ok"}]))
    assert delivered[0].offset() == 0
    assert [m.value() for m in consume_partition(b.bootstrap, name, 0, expected=1)] == [b"ok"]
    assert b.alive()


def test_auto_create_uses_num_partitions(broker_factory):
    b = broker_factory("--auto-create-topics", "true", "--num-partitions", "3", name="auto3")
    name = unique("auto3")
    assert_delivered(produce_sync(producer(b.bootstrap), name, [{"value": b"x"}]))
    a = admin(b.bootstrap)

    def parts():
        t = a.list_topics(timeout=10).topics.get(name)
        return t is not None and len(t.partitions) == 3

    wait_until(parts, desc="auto-created topic with 3 partitions")


def test_max_message_bytes(broker):
    name = create_topic(broker.bootstrap, unique("maxbytes"), config={"max.message.bytes": "1024"})
    plain = producer(broker.bootstrap, **{"compression.type": "none", "linger.ms": 0,
                                          "batch.num.messages": 1, "retries": 0})
    big = bytes((i * 7919) % 251 for i in range(10 * 1024))  # 10 KB, not compressible much
    err, _ = produce_sync(plain, name, [{"partition": 0, "value": big}])[0]
    assert err is not None, "10 KB record into a 1024-byte max.message.bytes topic must fail"
    assert err.code() == KafkaError.MSG_SIZE_TOO_LARGE, str(err)

    smalls = [{"partition": 0, "value": f"small-{i}".encode()} for i in range(5)]
    delivered = assert_delivered(produce_sync(plain, name, smalls))
    assert [m.offset() for m in delivered] == list(range(5)), "rejected record must not take an offset"

    # The limit applies to the (compressed) batch: 10 KB of zeros gzip to far below 1 KB.
    gz = producer(broker.bootstrap, **{"compression.type": "gzip", "linger.ms": 0,
                                       "batch.num.messages": 1})
    delivered = assert_delivered(produce_sync(gz, name, [{"partition": 0, "value": b"\0" * 10240}]))
    assert delivered[0].offset() == 5

    msgs = consume_partition(broker.bootstrap, name, 0, expected=6)
    assert [m.value() for m in msgs] == [r["value"] for r in smalls] + [b"\0" * 10240]
