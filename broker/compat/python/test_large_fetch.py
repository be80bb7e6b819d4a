"""Large fetches, served from the page cache with sendfile, read byte-exact by every client.

A fetch response above 64 KiB of records goes out as encoded parts with the log's bytes spliced
between them, for every Fetch version the clients negotiate (kafka-python's older, non-flexible
ones; librdkafka's flexible v12). Each record's value is derived from its partition and offset,
so a byte out of place anywhere in a response is caught.
"""

import hashlib
import shutil
import subprocess
import time

import pytest
from kafka import KafkaConsumer, TopicPartition as KpTopicPartition

from weirtest import (assert_delivered, consume_partition, create_topic, produce_sync, producer,
                      unique)

PARTITIONS = 3
BIG = 1500  # records of 4-12 KiB per partition: ~35 MiB in all, large batches
SMALL = 3000  # then one-record batches of ~100 B (acks=all, no linger): many batches per fetch


def value(partition, i):
    """Record i of a partition: a recognisable prefix, then bytes that depend on both."""
    size = 100 if i >= BIG else 4096 + (i * 37 % 8192)
    seed = hashlib.sha256(f"{partition}/{i}".encode()).hexdigest().encode()  # printable: kcat
    head = f"p{partition}-r{i}:".encode()
    return (head + seed * (size // len(seed) + 1))[:size]


@pytest.fixture(scope="module")
def topic(broker):
    name = create_topic(broker.bootstrap, unique("large-fetch"), partitions=PARTITIONS)
    big = producer(broker.bootstrap, **{"linger.ms": 20, "batch.size": 1000000})
    assert_delivered(produce_sync(big, name, [
        {"partition": p, "value": value(p, i)} for i in range(BIG) for p in range(PARTITIONS)]))
    small = producer(broker.bootstrap, **{"linger.ms": 0, "acks": "all",
                                          "max.in.flight.requests.per.connection": 1})
    assert_delivered(produce_sync(small, name, [
        {"partition": p, "value": value(p, i)} for i in range(BIG, BIG + SMALL)
        for p in range(PARTITIONS)]))
    return name


def check(partition, pairs):
    """`pairs` of (offset, value) read from a partition: every offset once, in order, exact."""
    offsets = [o for o, _ in pairs]
    assert offsets == list(range(BIG + SMALL)), (
        f"partition {partition}: {len(offsets)} records, first gap near "
        f"{next((i for i, o in enumerate(offsets) if o != i), None)}")
    for o, v in pairs:
        assert v == value(partition, o), f"partition {partition} offset {o}: wrong bytes"


@pytest.mark.parametrize("limits", [
    {},
    # Small limits: many responses, each cut at a batch boundary inside the log.
    {"fetch.max.bytes": 300000, "message.max.bytes": 300000, "max.partition.fetch.bytes": 100000},
], ids=["default-limits", "small-limits"])
def test_librdkafka_reads_every_byte(broker, topic, limits):
    for p in range(PARTITIONS):
        msgs = consume_partition(broker.bootstrap, topic, p, expected=BIG + SMALL, timeout=90,
                                 **limits)
        check(p, [(m.offset(), m.value()) for m in msgs])


def test_kafka_python_reads_every_byte(broker, topic):
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                      enable_auto_commit=False, auto_offset_reset="earliest",
                      max_partition_fetch_bytes=200000, fetch_max_bytes=1 << 20,
                      request_timeout_ms=30000, fetch_max_wait_ms=200)
    try:
        tps = [KpTopicPartition(topic, p) for p in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + 120
        while sum(map(len, got.values())) < PARTITIONS * (BIG + SMALL):
            assert time.monotonic() < deadline, {p: len(v) for p, v in got.items()}
            for tp, recs in c.poll(timeout_ms=500).items():
                got[tp.partition].extend((r.offset, r.value) for r in recs)
        for p, pairs in got.items():
            check(p, pairs)
    finally:
        c.close()


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (run.sh installs it)")
def test_kcat_reads_every_byte(broker, topic):
    for p in range(PARTITIONS):
        out = subprocess.run(
            ["kcat", "-b", broker.bootstrap, "-C", "-t", topic, "-p", str(p), "-o", "beginning",
             "-e", "-q", "-f", "%o %s\n"],
            capture_output=True, timeout=120, check=True).stdout
        pairs = []
        for line in out.split(b"\n"):
            if line:
                o, v = line.split(b" ", 1)
                pairs.append((int(o), v))
        check(p, pairs)
