"""Restart (SIGTERM) and crash (SIGKILL) durability, checked through librdkafka."""

import hashlib
import threading
import time

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource, ResourceType

from weirtest import (
    admin,
    assert_delivered,
    consume_partition,
    consumer,
    create_topic,
    norm_headers,
    produce_sync,
    producer,
    unique,
    wait_for_topic,
    watermarks,
)


def test_restart_sigterm_keeps_everything(broker_factory):
    b = broker_factory(name="restart")
    topic = create_topic(b.bootstrap, unique("restart"), partitions=2,
                         config={"retention.ms": "86400000"})
    records = [{
        "partition": i % 2,
        "key": f"k{i}".encode(),
        "value": f"restart-value-{i}-".encode() * (1 + i % 4),
        "headers": [("i", str(i).encode()), ("dup", b"a"), ("dup", b"b")],
        "timestamp": 1_600_000_000_000 + i,
    } for i in range(1000)]
    prod = producer(b.bootstrap, **{"compression.type": "lz4", "linger.ms": 10})
    delivered = assert_delivered(produce_sync(prod, topic, records))
    prod = None
    before = {(m.partition(), m.offset()): r for m, r in zip(delivered, records)}
    assert len(before) == 1000

    rc = b.stop()
    assert rc == 0, f"SIGTERM should be a clean shutdown, exit code was {rc}"
    b.start(same_port=True)

    wait_for_topic(b.bootstrap, topic, 2)
    for p in range(2):
        expected = [r for r in records if r["partition"] == p]
        msgs = consume_partition(b.bootstrap, topic, p, expected=len(expected))
        assert [m.offset() for m in msgs] == list(range(len(expected)))
        for m in msgs:
            r = before[(p, m.offset())]
            assert (m.key(), m.value(), norm_headers(m.headers()), m.timestamp()[1]) == \
                (r["key"], r["value"], r["headers"], r["timestamp"]), f"p{p} offset {m.offset()}"
        assert watermarks(b.bootstrap, topic, p) == (0, len(expected))

    # topic config survived the restart
    a = admin(b.bootstrap)
    res = ConfigResource(ResourceType.TOPIC, topic)
    cfg = a.describe_configs([res], request_timeout=20)[res].result(timeout=20)
    assert cfg["retention.ms"].value == "86400000"

    # appends continue after the recovered end
    d = assert_delivered(produce_sync(producer(b.bootstrap), topic, [{"partition": 0, "value": b"after"}]))
    assert d[0].offset() == 500


def _value(seq, p):
    digest = hashlib.sha256(f"{seq}|{p}".encode()).hexdigest()
    return f"{seq:08d}|{p}|{digest}|".encode() + b"." * (seq % 97)


def _valid(value, p):
    try:
        seq_s, p_s, digest, _rest = value.decode().split("|", 3)
        seq = int(seq_s)
    except (ValueError, UnicodeDecodeError):
        return False
    return int(p_s) == p and value == _value(seq, p) and len(digest) == 64


def test_sigkill_acked_records_survive(broker_factory):
    b = broker_factory("--log-flush-messages", "1", name="crash")
    topic = create_topic(b.bootstrap, unique("crash"), partitions=2)

    acked = {}           # (partition, offset) -> value
    attempted = [0, 0]   # produce() calls per partition
    lock = threading.Lock()
    stop = threading.Event()
    errors = []
    prod = producer(b.bootstrap, **{"acks": "1", "linger.ms": 2, "retries": 0,
                                    "message.timeout.ms": 20000,
                                    "queue.buffering.max.messages": 5000})

    def on_delivery(err, msg):
        if err is None:
            with lock:
                acked[(msg.partition(), msg.offset())] = msg.value()
        else:
            errors.append(err.code())

    def load():
        seq = 0
        while not stop.is_set():
            p = seq % 2
            try:
                prod.produce(topic, value=_value(seq, p), partition=p, on_delivery=on_delivery)
                attempted[p] += 1
                seq += 1
            except BufferError:
                prod.poll(0.05)
            prod.poll(0)
            if seq % 200 == 0:
                prod.poll(0.01)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 1500:
                break
        time.sleep(0.02)
    with lock:
        n_before_kill = len(acked)
    assert n_before_kill > 0, "no acknowledged records within 30s"
    b.kill()  # SIGKILL mid-load
    stop.set()
    t.join(timeout=10)
    # Give in-flight requests no chance to reach the restarted broker.
    prod.purge(in_queue=True, in_flight=True, blocking=False)
    prod.flush(10)
    del prod
    with lock:
        acked_snapshot = dict(acked)

    print(f"acked before SIGKILL: {n_before_kill}, acked total: {len(acked_snapshot)}, "
          f"attempted: {attempted}, delivery errors: {len(errors)}")
    b.start(same_port=True)
    wait_for_topic(b.bootstrap, topic, 2)
    for p in range(2):
        mine = {o: v for (pp, o), v in acked_snapshot.items() if pp == p}
        low, high = watermarks(b.bootstrap, topic, p)
        assert low == 0
        if mine:
            assert high >= max(mine) + 1, f"p{p}: acked offset {max(mine)} lost (hw={high})"
        assert high <= attempted[p], f"p{p}: hw {high} > records ever produced {attempted[p]}"
        print(f"p{p}: acked {len(mine)} (max offset {max(mine) if mine else None}), "
              f"recovered hw {high}, attempted {attempted[p]}")
        msgs = consume_partition(b.bootstrap, topic, p, expected=high, timeout=60)
        assert [m.offset() for m in msgs] == list(range(high)), f"p{p}: offsets not contiguous"
        for m in msgs:
            assert _valid(m.value(), p), f"p{p} offset {m.offset()}: garbage {m.value()[:80]!r}"
            if m.offset() in mine:
                assert m.value() == mine[m.offset()], f"p{p} offset {m.offset()}: acked value changed"
        # Nothing is served at or past the end.
        c = consumer(b.bootstrap, **{"auto.offset.reset": "error"})
        try:
            c.assign([TopicPartition(topic, p, high + 5)])
            got_msgs, got_err = [], None
            end = time.monotonic() + 10
            while time.monotonic() < end and got_err is None:
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error() is None:
                    got_msgs.append(m)
                elif m.error().code() != KafkaError._PARTITION_EOF and m.topic() == topic:
                    got_err = m.error()
            assert not got_msgs, f"p{p}: served records past the end: {[x.offset() for x in got_msgs]}"
            assert got_err is not None, f"p{p}: fetch past hw should report offset out of range"
            assert got_err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE), \
                str(got_err)
        finally:
            c.close()
        # appends continue at the recovered end
        d = assert_delivered(produce_sync(producer(b.bootstrap), topic,
                                          [{"partition": p, "value": _value(10**7 + p, p)}]))
        assert d[0].offset() == high
