"""Time and size retention: old segments are deleted and the log start offset
(low watermark, ListOffsets earliest) advances, as seen by librdkafka."""

import time

import pytest

from weirtest import (
    assert_delivered,
    consume_partition,
    create_topic,
    produce_sync,
    producer,
    unique,
    watermarks,
)


@pytest.fixture(scope="module")
def rbroker(tmp_path_factory):
    from weirtest import Broker
    d = tmp_path_factory.mktemp("retention")
    b = Broker(d / "data", args=["--log-retention-check-interval-ms", "200"], name="retention",
               log_dir=d)
    b.start()
    yield b
    b.dispose()


def _drive_until_low_moves(b, topic, timeout=40.0):
    """Produce a little now and then (so the active segment rolls via segment.ms)
    until the low watermark is > 0. Returns (low, high, produced)."""
    prod = producer(b.bootstrap, **{"linger.ms": 0})
    produced = 0
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert_delivered(produce_sync(prod, topic, [
            {"partition": 0, "value": f"r{produced + i}".encode() * 10} for i in range(5)]))
        produced += 5
        last = watermarks(b.bootstrap, topic, 0)
        if last[0] > 0:
            return last[0], last[1], produced
        time.sleep(0.25)
    raise AssertionError(f"low watermark never advanced within {timeout}s (last {last}, "
                         f"produced {produced})")


@pytest.mark.parametrize("configs", [
    {"retention.ms": "500", "segment.ms": "100"},
    {"retention.bytes": "100", "segment.ms": "100"},
], ids=["retention.ms", "retention.bytes"])
def test_retention_advances_log_start(rbroker, configs):
    topic = create_topic(rbroker.bootstrap, unique("ret"), partitions=1, config=configs)
    low, high, produced = _drive_until_low_moves(rbroker, topic)
    assert 0 < low <= high
    assert high == produced, "retention must never change the high watermark"
    # Reading from the beginning starts at (or after) the new log start offset
    # and returns an intact, contiguous suffix of the log. (Time retention may
    # legitimately expire everything, even the active segment, so only size
    # retention is required to leave data behind.)
    msgs = consume_partition(rbroker.bootstrap, topic, 0)
    if "retention.bytes" in configs:
        assert msgs, "size retention must keep the active segment readable"
    if msgs:
        assert msgs[0].offset() >= low
        offs = [m.offset() for m in msgs]
        assert offs == list(range(offs[0], produced)), "not a contiguous suffix of the log"
        for m in msgs:
            assert m.value() == f"r{m.offset()}".encode() * 10
