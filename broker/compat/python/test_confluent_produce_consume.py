"""confluent-kafka (librdkafka) Produce/Fetch round trips."""

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME

from weirtest import (
    assert_delivered,
    consume_partition,
    create_topic,
    norm_headers,
    produce_sync,
    producer,
    unique,
    watermarks,
)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
BASE_TS = 1_700_000_000_000


def build_records():
    recs = []
    for i in range(60):
        recs.append({
            "partition": i % PARTITIONS,
            "key": f"key-{i}".encode(),
            "value": (f"value-{i}-" * (1 + i % 7)).encode(),
            "headers": [("trace", f"t-{i}".encode()), ("dup", b"first"), ("dup", b"second")],
            "timestamp": BASE_TS + i,
        })
    specials = [
        # tombstone: key with a null value
        {"key": b"tomb", "value": None, "headers": None},
        # empty (non-null) value
        {"key": b"empty", "value": b"", "headers": [("e", b"")]},
        # null key
        {"key": None, "value": b"no-key", "headers": None},
        # header with a null value and duplicate keys in a specific order
        {"key": b"hnull", "value": b"x", "headers": [("a", b"1"), ("n", None), ("a", b"2"), ("a", b"3")]},
        # every byte value
        {"key": bytes(range(256)), "value": bytes(range(256)) * 4, "headers": [("bin", bytes(range(256)))]},
        # a big, compressible value (exercises compression of a large batch)
        {"key": b"big", "value": b"abcdefghij" * 20000, "headers": None},
    ]
    for j, s in enumerate(specials):
        for p in range(PARTITIONS):
            r = dict(s)
            r["partition"] = p
            r["timestamp"] = BASE_TS + 1000 + j
            recs.append(r)
    return recs


@pytest.mark.parametrize("codec", CODECS)
def test_roundtrip_codec(broker, codec):
    topic = create_topic(broker.bootstrap, unique(f"rt-{codec}"), partitions=PARTITIONS)
    records = build_records()
    prod = producer(broker.bootstrap, **{"compression.type": codec, "linger.ms": 20, "acks": "all"})
    delivered = assert_delivered(produce_sync(prod, topic, records))

    # Delivery reports: per-partition offsets consecutive from 0, in produce order.
    for p in range(PARTITIONS):
        offs = [m.offset() for m, r in zip(delivered, records) if r["partition"] == p]
        assert offs == list(range(len(offs))), f"partition {p} delivery offsets {offs[:10]}..."
        assert all(m.partition() == p for m, r in zip(delivered, records) if r["partition"] == p)

    for p in range(PARTITIONS):
        expected = [r for r in records if r["partition"] == p]
        msgs = consume_partition(broker.bootstrap, topic, p, expected=len(expected))
        assert [m.offset() for m in msgs] == list(range(len(expected))), "offsets not consecutive from 0"
        for m, r in zip(msgs, expected):
            assert m.partition() == p
            assert m.key() == r["key"], f"offset {m.offset()}"
            assert m.value() == r["value"], f"offset {m.offset()} value mismatch"
            assert norm_headers(m.headers()) == norm_headers(r["headers"]), f"offset {m.offset()}"
            ts_type, ts = m.timestamp()
            assert ts_type == TIMESTAMP_CREATE_TIME
            assert ts == r["timestamp"], f"offset {m.offset()} timestamp"
        # the tombstone really is null (None), the empty value really is b""
        by_key = {m.key(): m.value() for m in msgs}
        assert by_key[b"tomb"] is None
        assert by_key[b"empty"] == b""
        assert watermarks(broker.bootstrap, topic, p) == (0, len(expected))


def test_consume_from_middle_offset(broker):
    """Fetch starting at an offset inside a compressed multi-record batch
    returns exactly the records from that offset on."""
    topic = create_topic(broker.bootstrap, unique("mid"), partitions=1)
    prod = producer(broker.bootstrap, **{"compression.type": "lz4", "linger.ms": 50})
    records = [{"partition": 0, "value": f"m{i}".encode()} for i in range(50)]
    assert_delivered(produce_sync(prod, topic, records))
    msgs = consume_partition(broker.bootstrap, topic, 0, start=37, expected=13)
    assert [m.offset() for m in msgs] == list(range(37, 50))
    assert [m.value() for m in msgs] == [f"m{i}".encode() for i in range(37, 50)]


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks_modes_deliver(broker, acks):
    topic = create_topic(broker.bootstrap, unique(f"acks{acks}"), partitions=1)
    prod = producer(broker.bootstrap, **{"acks": acks, "linger.ms": 10})
    records = [{"partition": 0, "key": f"k{i}".encode(), "value": f"acks-{acks}-{i}".encode()}
               for i in range(100)]
    delivered = assert_delivered(produce_sync(prod, topic, records))
    if acks != "0":
        assert [m.offset() for m in delivered] == list(range(100))
    msgs = consume_partition(broker.bootstrap, topic, 0, expected=100)
    assert [m.value() for m in msgs] == [r["value"] for r in records]
    assert [m.key() for m in msgs] == [r["key"] for r in records]
    assert [m.offset() for m in msgs] == list(range(100))


def test_acks_all_on_a_topic_with_fewer_replicas_than_min_insync(broker):
    """As Kafka 4 (its effective min ISR since KIP-966): min.insync.replicas=2 on a topic with
    one replica asks for that one, so acks=all producers (the default) are not refused."""
    topic = create_topic(broker.bootstrap, unique("misr"), partitions=1,
                         config={"min.insync.replicas": "2"})
    prod = producer(broker.bootstrap, **{"acks": "all", "delivery.timeout.ms": 10000})
    delivered = assert_delivered(produce_sync(prod, topic, [{"partition": 0, "value": b"m1"}]))
    assert [m.offset() for m in delivered] == [0]
    assert [m.value() for m in consume_partition(broker.bootstrap, topic, 0, expected=1)] == [b"m1"]


def test_auto_created_topic_roundtrip(broker):
    """Default broker has auto-create on: producing to a new name creates it."""
    topic = unique("auto")
    prod = producer(broker.bootstrap)
    delivered = assert_delivered(produce_sync(prod, topic, [{"value": b"auto-1"}, {"value": b"auto-2"}]))
    assert {m.partition() for m in delivered} == {0}
    assert [m.offset() for m in delivered] == [0, 1]
    msgs = consume_partition(broker.bootstrap, topic, 0, expected=2)
    assert [m.value() for m in msgs] == [b"auto-1", b"auto-2"]


def test_long_poll_fetch_sees_new_records(broker):
    """Consumer is parked at the end of the log (Fetch long poll); records produced
    afterwards are delivered without re-assigning."""
    import threading
    import time

    from weirtest import consumer
    from confluent_kafka import KafkaError, TopicPartition

    topic = create_topic(broker.bootstrap, unique("tail"), partitions=1)
    c = consumer(broker.bootstrap, **{"fetch.wait.max.ms": 2000})
    got = []
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        eof_seen = False
        deadline = time.monotonic() + 20
        while not eof_seen and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF:
                eof_seen = True
        assert eof_seen, "no EOF on an empty partition"

        def later():
            time.sleep(1.0)
            produce_sync(producer(broker.bootstrap), topic,
                         [{"partition": 0, "value": f"late-{i}".encode()} for i in range(3)])

        t = threading.Thread(target=later)
        t.start()
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m)
        t.join(timeout=30)
    finally:
        c.close()
    assert [(m.offset(), m.value()) for m in got] == [(i, f"late-{i}".encode()) for i in range(3)]


def test_mixed_codecs_in_one_partition(broker):
    topic = create_topic(broker.bootstrap, unique("mixed"), partitions=1)
    expected = []
    for codec in CODECS + list(reversed(CODECS)):
        prod = producer(broker.bootstrap, **{"compression.type": codec, "linger.ms": 20})
        recs = [{"partition": 0, "key": codec.encode(), "value": f"{codec}-{i}".encode() * 20}
                for i in range(7)]
        assert_delivered(produce_sync(prod, topic, recs))
        expected += recs
    msgs = consume_partition(broker.bootstrap, topic, 0, expected=len(expected))
    assert [m.offset() for m in msgs] == list(range(len(expected)))
    assert [(m.key(), m.value()) for m in msgs] == [(r["key"], r["value"]) for r in expected]


def test_fetch_returns_batch_larger_than_fetch_limits(broker):
    """KIP-74: a batch bigger than max.partition.fetch.bytes / fetch.max.bytes is
    still returned (otherwise the consumer would be stuck)."""
    topic = create_topic(broker.bootstrap, unique("bigfetch"), partitions=1)
    values = [bytes([65 + i]) * 300_000 for i in range(3)]
    prod = producer(broker.bootstrap, **{"linger.ms": 0, "batch.num.messages": 1})
    assert_delivered(produce_sync(prod, topic, [{"partition": 0, "value": v} for v in values]))
    msgs = consume_partition(broker.bootstrap, topic, 0, expected=3,
                             **{"max.partition.fetch.bytes": 1024, "fetch.max.bytes": 1024,
                                "message.max.bytes": 1000,
                                "receive.message.max.bytes": 2_000_000})
    assert [m.value() for m in msgs] == values
