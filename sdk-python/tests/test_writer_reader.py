"""The synchronous Writer and Reader against a real broker."""

from __future__ import annotations

import threading
import time

import pytest

import weir
from conftest import drain, new_topic, read_n, unique

pytestmark = pytest.mark.timeout(120)


def test_write_messages_returns_deliveries_in_order(broker, admin):
    topic = new_topic(admin, "order")
    with broker.writer(topic) as w:
        ds = w.write_messages(*[f"m{i}" for i in range(20)])
        more = w.write_messages([weir.Message(b"x"), weir.Message(b"y")])
    assert [d.offset for d in ds] == list(range(20))
    assert all(d.topic == topic and d.partition == 0 for d in ds)
    assert [d.offset for d in more] == [20, 21]


def test_round_robin_and_explicit_partition(broker, admin):
    topic = new_topic(admin, "balance", partitions=4)
    with broker.writer(topic, balancer="round_robin") as w:
        ds = w.write_messages(*[weir.Message(b"v", key=b"same") for _ in range(8)])
        pinned = w.write(b"p", partition=3)
    counts = {p: sum(d.partition == p for d in ds) for p in range(4)}
    assert counts == {0: 2, 1: 2, 2: 2, 3: 2}
    assert pinned.partition == 3
    with broker.writer(topic) as w:  # hash: one key, one partition
        parts = {w.write(b"v", key=b"user-1").partition for _ in range(5)}
    assert len(parts) == 1


@pytest.mark.parametrize("compression", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_round_trip(broker, admin, compression):
    topic = new_topic(admin, f"codec-{compression}")
    with broker.writer(topic, compression=compression, required_acks="leader",
                       idempotent=False) as w:
        w.write_messages(*[weir.Message(b"x" * 1000 + bytes([i]), key=str(i)) for i in range(5)])
    with broker.reader(topic, partition=0) as r:
        got = read_n(r, 5)
    assert [m.value for m in got] == [b"x" * 1000 + bytes([i]) for i in range(5)]


def test_message_topic_timestamp_and_null_value(broker, admin):
    a, b = new_topic(admin, "multi-a"), new_topic(admin, "multi-b")
    with broker.writer(a) as w:
        d1 = w.write(b"to-a", timestamp_ms=1_600_000_000_000)
        d2 = w.write(None, key=b"tombstone", topic=b)
    assert (d1.topic, d2.topic) == (a, b)
    with broker.reader(a, partition=0) as r:
        m = r.read_message(timeout=15)
    assert m.timestamp_ms == 1_600_000_000_000
    with broker.reader(b, partition=0) as r:
        m = r.read_message(timeout=15)
    assert (m.key, m.value) == (b"tombstone", None)


def test_writer_without_topic_needs_one_per_message(broker):
    with broker.writer() as w:
        assert w.topic is None
        with pytest.raises(weir.ConfigError, match="names no topic"):
            w.write(b"v")


def test_partial_failure_is_a_write_error(broker, admin):
    topic = new_topic(admin, "partial", partitions=1)
    with broker.writer(topic, write_timeout_ms=5000) as w:
        with pytest.raises(weir.WriteError) as ei:
            w.write_messages(weir.Message(b"ok"), weir.Message(b"lost", partition=7),
                             weir.Message(b"ok too"))
    e = ei.value
    assert e.total == 3
    assert [i for i, _ in e.failed] == [1]
    assert isinstance(e.failed[0][1], weir.WeirError)
    with broker.reader(topic, partition=0) as r:
        assert [m.value for m in drain(r)] == [b"ok", b"ok too"]


def test_closed_writer_and_reader(broker, admin):
    topic = new_topic(admin, "closed")
    w = broker.writer(topic)
    w.write(b"v")
    w.flush(5)
    w.close()
    w.close()  # idempotent
    assert w.closed
    with pytest.raises(weir.ClosedError):
        w.write(b"again")
    r = broker.reader(topic, partition=0)
    r.close()
    r.close()
    assert r.closed
    with pytest.raises(weir.ClosedError):
        r.read_message(timeout=1)


def test_iteration_ends_when_closed_from_another_thread(broker, admin):
    topic = new_topic(admin, "iterate")
    with broker.writer(topic) as w:
        w.write_messages(*[f"m{i}" for i in range(5)])
    r = broker.reader(topic, partition=0)
    got = []
    for m in r:
        got.append(m.value)
        if len(got) == 5:
            threading.Timer(0.5, r.close).start()
    assert got == [f"m{i}".encode() for i in range(5)]
    assert r.closed


def test_timeout_and_context_cancel(broker, admin):
    topic = new_topic(admin, "waits")
    with broker.reader(topic, partition=0) as r:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as ei:  # the builtin catches it too
            r.read_message(timeout=0.5)
        assert isinstance(ei.value, weir.TimeoutError)
        assert ei.value.retriable
        assert 0.4 < time.monotonic() - t0 < 5
        with pytest.raises(weir.TimeoutError):
            r.read_message(ctx=weir.Context(timeout=0.3))
        ctx = weir.Context()
        threading.Timer(0.3, ctx.cancel).start()
        with pytest.raises(weir.CancelledError):
            r.read_message(ctx=ctx)
        # The reader still works after a timeout and a cancellation.
        with broker.writer(topic) as w:
            w.write(b"late")
        assert r.read_message(timeout=15).value == b"late"


def test_group_reader_topics_lag_pause_resume(broker, admin):
    t1, t2 = new_topic(admin, "multi-1"), new_topic(admin, "multi-2")
    with broker.writer() as w:
        w.write_messages(*[weir.Message(f"{t}-{i}", topic=t) for t in (t1, t2) for i in range(3)])
    group = unique("g")
    with broker.reader(topics=[t1, t2], group_id=group) as r:
        assert r.group_id == group and r.topics == [t1, t2]
        got = read_n(r, 6)
        assert sorted(m.value_str() for m in got) == sorted(
            f"{t}-{i}" for t in (t1, t2) for i in range(3))
        assert sorted(r.assignment()) == [(t1, 0), (t2, 0)]
        lags = {(l.topic, l.partition): l for l in r.lag()}
        assert lags[(t1, 0)].high_watermark == 3 and lags[(t1, 0)].lag == 0
        r.pause([(t1, 0)])
        with broker.writer() as w:
            w.write(b"while-paused", topic=t1)
            w.write(b"other", topic=t2)
        assert r.read_message(timeout=15).value == b"other"
        with pytest.raises(weir.TimeoutError):
            r.read_message(timeout=1)
        r.resume([(t1, 0)])
        assert r.read_message(timeout=15).value == b"while-paused"


def test_start_offset_latest(broker, admin):
    topic = new_topic(admin, "latest")
    with broker.writer(topic) as w:
        w.write(b"old")
        with broker.reader(topic, partition=0, start_offset="latest") as r:
            with pytest.raises(weir.TimeoutError):
                r.read_message(timeout=1)
            w.write(b"new")
            assert r.read_message(timeout=15).value == b"new"


def test_auto_commit_on_close(broker, admin):
    topic = new_topic(admin, "autocommit")
    group = unique("g")
    with broker.writer(topic) as w:
        w.write_messages(*[f"m{i}" for i in range(4)])
    with broker.reader(topic, group_id=group, commit_interval_ms=60000) as r:
        read_n(r, 3)
    [lag] = admin.group_lag(group)
    assert (lag.position, lag.lag) == (3, 1), "close commits what read_message marked"


def test_config_errors(broker, admin):
    with pytest.raises(weir.ConfigError):
        weir.Reader(broker.kafka)
    with pytest.raises(weir.ConfigError):
        weir.Reader(broker.kafka, "t", topics=["t"])
    with pytest.raises(weir.ConfigError):
        weir.Reader(broker.kafka, topics=["a", "b"])  # several topics need a group
    with pytest.raises(weir.ConfigError):
        weir.Reader(broker.kafka, "t", group_id="g", partition=0)
    with pytest.raises(weir.ConfigError):
        weir.Reader(broker.kafka, "t", group_id="g", start_offset="middle")
    with pytest.raises(weir.ConfigError):
        weir.Writer(broker.kafka, compression="brotli")
    with pytest.raises(weir.ConfigError):
        weir.Writer(broker.kafka, required_acks="leader")  # idempotence needs acks=all
    with pytest.raises(weir.ConfigError):
        weir.Writer(broker.kafka, extra={"no.such.property": "1"})
    with pytest.raises(weir.ConfigError):
        weir.Admin("")
    with weir.Reader(broker.kafka, new_topic(admin, "cfg"), partition=0) as r:
        with pytest.raises(weir.ConfigError, match="group_id"):
            r.commit_messages(weir.Message(b"x", topic="t", partition=0))
        with pytest.raises(weir.ConfigError, match="not assigned"):
            r.seek("other", 0, 0)


def test_ctrl_c_interrupts_a_blocked_read(broker, admin, tmp_path):
    """A read waiting without a timeout on the main thread ends on SIGINT (KeyboardInterrupt),
    since the native call polls for signals while it has the GIL released."""
    import signal
    import subprocess
    import sys

    topic = new_topic(admin, "sigint")
    script = tmp_path / "blocked.py"
    # A shell that starts the suite in the background (`cmd &`) hands it SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler: restore it, as an interactive run has.
    script.write_text(
        "import signal, sys, weir\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"r = weir.Reader({broker.kafka!r}, {topic!r}, partition=0)\n"
        "print('reading', flush=True)\n"
        "try:\n"
        "    r.read_message()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
        "    r.close()\n"
        "    sys.exit(3)\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "reading"
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=15) == 3
        assert time.monotonic() - t0 < 5
        assert p.stdout.read().strip() == "interrupted"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_one_writer_shared_by_threads(broker, admin):
    """Calls release the GIL: eight threads write through one writer at once."""
    from concurrent.futures import ThreadPoolExecutor

    topic = new_topic(admin, "threads", partitions=2)
    with broker.writer(topic, batch_timeout_ms=20) as w:
        with ThreadPoolExecutor(8) as pool:
            ds = list(pool.map(lambda i: w.write(f"t{i}", key=str(i)), range(200)))
    assert len({(d.partition, d.offset) for d in ds}) == 200
    with broker.reader(topic, group_id=unique("g")) as r:
        assert sorted(m.value_str() for m in read_n(r, 200)) == sorted(
            f"t{i}" for i in range(200))
