"""Log compaction (cleanup.policy=compact) as librdkafka and kafka-python see it:
each key keeps its latest record at the offset it was given, tombstones delete
keys, keyless records are refused, and the log's offsets never move."""

import time
import urllib.request

import pytest
from confluent_kafka import KafkaError
from kafka import KafkaConsumer, TopicPartition as KpTopicPartition

from weirtest import (
    assert_delivered,
    consume_partition,
    create_topic,
    produce_sync,
    producer,
    unique,
    wait_until,
    watermarks,
)

# Small segments so that they close (the active one is never compacted), every
# dirty byte worth a pass, and tombstones gone at the second pass that sees them.
COMPACT = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "0",
}


@pytest.fixture(scope="module")
def cbroker(tmp_path_factory):
    from weirtest import Broker
    d = tmp_path_factory.mktemp("compaction")
    b = Broker(d / "data", args=["--log-cleaner-backoff-ms", "200"], name="compaction",
               log_dir=d)
    b.start()
    yield b
    b.dispose()


def _produce(prod, topic, records, chunk=10):
    """Produces (key, value) pairs to partition 0, `chunk` at a time (a batch each, so
    that segments fill and close); returns {offset: (key, value)}."""
    out = {}
    for i in range(0, len(records), chunk):
        results = produce_sync(prod, topic, [
            {"partition": 0, "key": k, "value": v} for k, v in records[i:i + chunk]])
        assert_delivered(results)
        out.update({m.offset(): (m.key(), m.value()) for _, m in results})
    return out


def _rounds(rounds, keys, tag="r", key="k"):
    return [(f"{key}{k}".encode(), f"{tag}{r}-{key}{k}-".encode() + b"x" * 40)
            for r in range(rounds) for k in range(keys)]


def _latest(written):
    out = {}
    for off in sorted(written):
        key, value = written[off]
        out[key] = value
    return out


def _read(b, topic):
    return [(m.offset(), m.key(), m.value()) for m in consume_partition(b.bootstrap, topic, 0)]


def test_each_key_keeps_its_latest_value_at_its_offset(cbroker):
    topic = create_topic(cbroker.bootstrap, unique("compact"), partitions=1, config=COMPACT)
    prod = producer(cbroker.bootstrap, **{"enable.idempotence": True, "linger.ms": 2})
    written = _produce(prod, topic, _rounds(40, 10))
    produced = len(written)

    # The cleaner runs in the background; wait until most of the superseded records are gone.
    msgs = wait_until(lambda: (lambda m: m if len(m) < produced // 3 else None)(_read(cbroker, topic)),
                      timeout=40, desc="compaction to remove superseded records")
    offsets = [o for o, _, _ in msgs]
    assert offsets == sorted(set(offsets)), "offsets are strictly increasing"
    for off, key, value in msgs:
        assert written[off] == (key, value), f"offset {off} keeps the record it was given"
    read_latest = {}
    for _, key, value in msgs:
        read_latest[key] = value
    assert read_latest == _latest(written), "every key's latest value survives"
    assert watermarks(cbroker.bootstrap, topic, 0) == (0, produced), \
        "compaction never moves the log start or end"

    # kafka-python reads the same records across the gaps compaction left.
    kc = KafkaConsumer(bootstrap_servers=cbroker.bootstrap, group_id=None,
                       enable_auto_commit=False, auto_offset_reset="earliest",
                       consumer_timeout_ms=5000)
    try:
        tp = KpTopicPartition(topic, 0)
        kc.assign([tp])
        kc.seek_to_beginning(tp)
        got = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not got or got[-1][0] < offsets[-1]):
            for recs in kc.poll(timeout_ms=500).values():
                got.extend((r.offset, r.key, r.value) for r in recs)
        # Compaction may have gone on since the first read: kafka-python's view is the same
        # or further compacted, never different in what it keeps.
        assert got, "kafka-python read nothing"
        assert {o for o, _, _ in got} <= set(offsets)
        for off, key, value in got:
            assert written[off] == (key, value)
        kp_latest = {}
        for _, key, value in got:
            kp_latest[key] = value
        assert kp_latest == _latest(written)
    finally:
        kc.close()

    # The cleaner's work shows in the Prometheus metrics.
    with urllib.request.urlopen(f"http://{cbroker.http}/metrics", timeout=10) as r:
        metrics = dict(
            line.rsplit(" ", 1) for line in r.read().decode().splitlines()
            if line.startswith("weir_log_cleaner_"))
    assert float(metrics["weir_log_cleaner_passes_total"]) >= 1, metrics
    assert float(metrics["weir_log_cleaner_records_removed_total"]) >= produced - len(msgs), metrics
    assert float(metrics["weir_log_cleaner_freed_bytes_total"]) > 0, metrics

    # The same idempotent producer goes on after compaction, at the log end.
    more = _produce(prod, topic, [(b"k0", b"after")])
    assert list(more) == [produced]


def test_a_tombstone_deletes_its_key(cbroker):
    topic = create_topic(cbroker.bootstrap, unique("tomb"), partitions=1, config=COMPACT)
    prod = producer(cbroker.bootstrap, **{"linger.ms": 2})
    written = _produce(prod, topic, _rounds(5, 10))
    written.update(_produce(prod, topic, [(b"k3", None)]))
    filler = 0

    def k3_gone():
        nonlocal filler
        # Fresh records keep the log dirty, so passes go on after the tombstone's first one.
        written.update(_produce(prod, topic, _rounds(2, 10, tag=f"f{filler}-", key="filler")))
        filler += 1
        msgs = _read(cbroker, topic)
        return msgs if not any(k == b"k3" for _, k, _ in msgs) else None

    msgs = wait_until(k3_gone, timeout=60, interval=0.5,
                      desc="the tombstone and every k3 record to be compacted away")
    # Every other key is still there with its latest value.
    latest = _latest(written)
    read = {}
    for off, key, value in msgs:
        assert written[off] == (key, value)
        read[key] = value
    del latest[b"k3"]
    assert read == latest


def test_a_keyless_record_is_refused_with_invalid_record(cbroker):
    topic = create_topic(cbroker.bootstrap, unique("nokey"), partitions=1, config=COMPACT)
    prod = producer(cbroker.bootstrap, **{"linger.ms": 0})
    [(err, _)] = produce_sync(prod, topic, [{"partition": 0, "value": b"no key"}])
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
    assert_delivered(produce_sync(prod, topic, [{"partition": 0, "key": b"k", "value": b"v"}]))
    assert [(k, v) for _, k, v in _read(cbroker, topic)] == [(b"k", b"v")]
