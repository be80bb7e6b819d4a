"""Interop with confluent-kafka: records cross between the two clients, headers included."""

from __future__ import annotations

import pytest

import weir
from conftest import new_topic

ck = pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.timeout(120)

HEADERS = [("a", b"1"), ("b", b"2"), ("a", b"3"), ("null", None)]


def test_weir_writes_confluent_reads(broker, admin):
    topic = new_topic(admin, "interop-w2c", partitions=3)
    with broker.writer(topic) as w:
        d = w.write(b"from weir", key=b"user-1", headers=HEADERS, timestamp_ms=1_700_000_000_000)
    c = ck.Consumer({"bootstrap.servers": broker.kafka, "group.id": "interop-assign",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        c.assign([ck.TopicPartition(topic, d.partition, d.offset)])
        m = None
        for _ in range(60):
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                break
        assert m is not None and m.error() is None
        assert (m.key(), m.value(), m.offset(), m.partition()) == (
            b"user-1", b"from weir", d.offset, d.partition)
        assert list(m.headers()) == HEADERS
        assert m.timestamp() == (ck.TIMESTAMP_CREATE_TIME, 1_700_000_000_000)
    finally:
        c.close()
    # A Java-compatible hash: confluent's murmur2 partitioner puts the same key there too.
    p = ck.Producer({"bootstrap.servers": broker.kafka, "partitioner": "murmur2_random"})
    got = []
    p.produce(topic, b"from confluent", key=b"user-1", on_delivery=lambda e, m: got.append(m))
    p.flush(10)
    assert got[0].partition() == d.partition


def test_confluent_writes_weir_reads(broker, admin):
    topic = new_topic(admin, "interop-c2w")
    p = ck.Producer({"bootstrap.servers": broker.kafka})
    p.produce(topic, b"from confluent", key=b"k", headers=HEADERS)
    p.produce(topic, None, key=b"tombstone")
    assert p.flush(10) == 0
    with broker.reader(topic, group_id="interop-c2w-group") as r:
        m1 = r.read_message(timeout=30)
        m2 = r.read_message(timeout=30)
    assert (m1.key, m1.value, m1.headers) == (b"k", b"from confluent", HEADERS)
    assert (m2.key, m2.value, m2.headers) == (b"tombstone", None, [])
