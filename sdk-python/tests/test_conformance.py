"""The SDK conformance scenarios (sdk-rust/conformance/SCENARIOS.md), one test per id."""

from __future__ import annotations

import threading
import time

import pytest

import weir
from conftest import drain, new_topic, plugin_path, read_n, unique, wait_until

pytestmark = pytest.mark.timeout(120)


def test_produce_key_headers(broker, admin):
    topic = new_topic(admin, "produce-key-headers")
    headers = [("a", b"1"), ("b", b"2"), ("a", b"3"), ("null", None)]
    with broker.writer(topic) as w:
        d = w.write(b"v1", key=b"k1", headers=headers)
    assert d.topic == topic
    with broker.reader(topic, partition=0, start_offset="earliest") as r:
        m = r.read_message(timeout=15)
    assert (m.key, m.value) == (b"k1", b"v1")
    assert m.headers == headers
    assert m.header("a") == b"3", "last one wins"
    assert (m.topic, m.partition, m.offset) == (d.topic, d.partition, d.offset)


def test_group_consume(broker, admin):
    topic = new_topic(admin, "group-consume", partitions=3)
    with broker.writer(topic) as w:
        w.write_messages(*[weir.Message(f"v{i}", key=f"k{i}") for i in range(30)])
    with broker.reader(topic, group_id=unique("g")) as r:
        msgs = read_n(r, 30, timeout=60)
    coords = {(m.topic, m.partition, m.offset) for m in msgs}
    assert len(coords) == 30
    assert sorted(m.value for m in msgs) == sorted(f"v{i}".encode() for i in range(30))
    assert {m.partition for m in msgs} == {0, 1, 2}, "keys spread over the partitions"


def test_manual_commit(broker, admin):
    topic = new_topic(admin, "manual-commit")
    group = unique("g")
    with broker.writer(topic) as w:
        w.write_messages(*[f"m{i}" for i in range(10)])
    with broker.reader(topic, group_id=group) as r:
        msgs = read_n(r, 5, fetch=True)
        assert [m.offset for m in msgs] == [0, 1, 2, 3, 4]
        r.commit_messages(msgs[4])
    lag = admin.group_lag(group)
    assert [(l.topic, l.partition, l.position, l.high_watermark, l.lag) for l in lag] == [
        (topic, 0, 5, 10, 5)]
    with broker.reader(topic, group_id=group) as r:
        first = r.read_message(timeout=30)
    assert first.offset == 5
    assert first.value == b"m5"


def test_seek(broker, admin):
    topic = new_topic(admin, "seek")
    with broker.writer(topic) as w:
        w.write_messages(*[f"m{i}" for i in range(10)])
    with broker.reader(topic, partition=0) as r:
        assert [m.offset for m in read_n(r, 6)] == [0, 1, 2, 3, 4, 5]
        r.seek(topic, 0, 2)
        m = r.read_message(timeout=15)
        assert (m.offset, m.value) == (2, b"m2")
        r.seek(topic, 0, weir.FIRST_OFFSET)
        assert r.read_message(timeout=15).offset == 0
        r.set_offset(7)
        assert r.read_message(timeout=15).offset == 7
        r.set_offset(weir.Reader.LAST_OFFSET)
        with pytest.raises(weir.TimeoutError):
            r.read_message(timeout=1)


def test_rebalance_two_consumers(broker, admin):
    topic = new_topic(admin, "rebalance", partitions=4)
    group = unique("g")
    readers = [broker.reader(topic, group_id=group, session_timeout_ms=10000) for _ in range(2)]
    try:
        # Poll both until the group has settled with each holding part of the topic.
        def settled():
            for r in readers:
                try:
                    r.read_message(timeout=0.2)
                    raise AssertionError("the topic is still empty")
                except weir.TimeoutError:
                    pass
            a, b = (set(r.assignment()) for r in readers)
            return a and b and not (a & b) and len(a | b) == 4

        wait_until(settled, timeout=60, interval=0, desc="both readers assigned")
        with broker.writer(topic) as w:
            w.write_messages(*[weir.Message(f"v{i}", key=f"k{i}") for i in range(40)])

        seen = [[], []]
        done = threading.Event()

        def consume(i):
            while not done.is_set():
                try:
                    seen[i].append(readers[i].read_message(timeout=0.5))
                except weir.TimeoutError:
                    pass
                if len(seen[0]) + len(seen[1]) >= 40:
                    done.set()

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        done.wait(60)
        done.set()
        for t in threads:
            t.join()
        # Nothing more arrives: every message was read exactly once.
        for r in readers:
            with pytest.raises(weir.TimeoutError):
                r.read_message(timeout=1)
        a, b = (set(r.assignment()) for r in readers)
        assert a and b, "both readers hold partitions"
        assert not (a & b), "assignments are disjoint"
        assert a | b == {(topic, p) for p in range(4)}
        allm = seen[0] + seen[1]
        assert len(allm) == 40
        assert len({(m.partition, m.offset) for m in allm}) == 40
        assert sorted(m.value for m in allm) == sorted(f"v{i}".encode() for i in range(40))
        for i, r in enumerate(readers):
            assert {(m.topic, m.partition) for m in seen[i]} <= set(r.assignment())
    finally:
        for r in readers:
            r.close()


def test_plugin_rejection(broker, admin):
    plugin = unique("rejecter")
    info = admin.deploy_plugin(plugin, plugin_path("rejecter"))
    assert info.name == plugin
    topic = new_topic(admin, "plugin-rejection")
    admin.set_topic_plugins(topic, [plugin])
    assert topic in admin.describe_plugin(plugin).topics
    with broker.writer(topic) as w:
        w.write("good")
        with pytest.raises(weir.RejectedError) as ei:
            w.write("this is bad")
    e = ei.value
    assert e.topic == topic
    # The plugin's own words, without the broker's "rejected by plugin '...'" prefix.
    assert e.reason == 'contains forbidden word "bad"', e.reason
    assert e.code == "INVALID_RECORD"
    assert isinstance(e, weir.WeirError)
    with broker.reader(topic, partition=0) as r:
        assert [m.value for m in drain(r)] == [b"good"]


def test_dlq_replay(broker, admin):
    plugin = unique("rejecter")
    admin.deploy_plugin(plugin, plugin_path("rejecter"), version="1.0.0")
    topic = new_topic(admin, "dlq-replay")
    admin.alter_topic_configs(topic, set={"weir.plugins": plugin,
                                          "weir.plugins.reject.policy": "dead-letter"})
    with broker.writer(topic) as w:
        ds = [w.write(v) for v in ("ok-1", "bad-1", "ok-2")]
    assert len(ds) == 3
    dead = admin.inspect_dead_letters(f"{topic}.dlq")
    assert len(dead) == 1
    d = dead[0]
    assert d.value == "bad-1"
    assert d.plugin == plugin
    assert d.reason and 'forbidden word "bad"' in d.reason
    assert d.source_topic == topic

    admin.set_topic_plugins(topic, [])
    report = admin.replay_dead_letters(f"{topic}.dlq")
    assert report.replayed == 1
    with broker.reader(topic, partition=0) as r:
        values = [m.value for m in drain(r)]
    assert values == [b"ok-1", b"ok-2", b"bad-1"]


def test_admin_create_delete(broker, admin):
    name = unique("admin-create-delete")
    admin.create_topic(name, partitions=3, configs={"retention.ms": 3600000})
    info = wait_until(lambda: (i := admin.describe_topic(name)) and len(i.partitions) == 3 and i,
                      desc="topic described with 3 partitions")
    assert info.name == name
    assert [p.partition for p in info.partitions] == [0, 1, 2]
    assert info.configs["retention.ms"] == "3600000"
    assert name in admin.list_topics()
    with pytest.raises(weir.WeirError) as ei:
        admin.create_topic(name, partitions=3)
    assert "already exists" in str(ei.value).lower()
    assert ei.value.code == "TOPIC_ALREADY_EXISTS"
    admin.delete_topic(name)
    deadline = time.monotonic() + 20
    while True:
        try:
            admin.describe_topic(name)
        except weir.UnknownTopicError as e:
            assert e.topic == name
            break
        assert time.monotonic() < deadline, "describe still succeeds after delete"
        time.sleep(0.2)
    assert name not in admin.list_topics()
