"""Errors that say what to do, from a real broker."""

from __future__ import annotations

import pytest

import weir
from conftest import new_topic, plugin_path, unique

pytestmark = pytest.mark.timeout(120)


def test_unknown_topic_on_a_broker_without_auto_create(strict_broker):
    topic = unique("nope")
    with weir.Writer(strict_broker.kafka, topic, admin_url=strict_broker.admin_url,
                     extra={"topic.metadata.propagation.max.ms": "1000"}) as w:
        with pytest.raises(weir.UnknownTopicError) as ei:
            w.write(b"v", timeout=20)
    assert ei.value.topic == topic
    assert ei.value.code == "UNKNOWN_TOPIC_OR_PARTITION"
    assert "create it first" in str(ei.value)
    with pytest.raises(weir.UnknownTopicError):
        weir.Reader(strict_broker.kafka, topic, partition=0)
    with pytest.raises(weir.UnknownTopicError):
        weir.Reader(strict_broker.kafka, topic, group_id=unique("g")).read_message(timeout=20)
    a = strict_broker.admin()
    with pytest.raises(weir.UnknownTopicError):
        a.describe_topic(topic)
    with pytest.raises(weir.UnknownTopicError):
        a.delete_topic(topic)
    assert topic not in a.list_topics(), "asking about a topic does not create it"


def test_unknown_partition(broker, admin):
    topic = new_topic(admin, "two-parts", partitions=2)
    with pytest.raises(weir.UnknownPartitionError) as ei:
        weir.Reader(broker.kafka, topic, partition=5)
    assert (ei.value.topic, ei.value.partition) == (topic, 5)
    assert isinstance(ei.value, weir.UnknownTopicError)


def test_record_too_large(broker, admin):
    topic = new_topic(admin, "too-large", max_message_bytes="1000")
    with broker.writer(topic) as w:
        with pytest.raises(weir.RecordTooLargeError) as ei:
            w.write(b"x" * 5000)
        assert ei.value.topic == topic
        assert ei.value.code == "MESSAGE_SIZE_TOO_LARGE"
        w.write(b"small")


def test_unreachable_broker():
    a = weir.Admin("127.0.0.1:1", admin_url="http://127.0.0.1:1", timeout_ms=2000)
    with pytest.raises(weir.UnreachableError) as ei:
        a.list_topics()
    assert ei.value.retriable
    assert "is Weir running" in str(ei.value)
    with pytest.raises(weir.UnreachableError) as ei:
        a.list_plugins()
    assert "admin_url" in str(ei.value)


def test_group_not_empty(broker, admin):
    topic = new_topic(admin, "busy")
    group = unique("g")
    with broker.writer(topic) as w:
        w.write(b"v")
    with broker.reader(topic, group_id=group) as r:
        r.read_message(timeout=30)
        with pytest.raises(weir.GroupNotEmptyError) as ei:
            admin.reset_offsets(group, topic, "earliest")
        assert ei.value.group == group
        assert "stop its consumers" in str(ei.value)


def test_api_error_and_plugin_lifecycle(broker, admin):
    with pytest.raises(weir.ApiError) as ei:
        admin.describe_plugin(unique("missing"))
    assert ei.value.status == 404
    name = unique("rej")
    with open(plugin_path("rejecter"), "rb") as f:
        info = admin.deploy_plugin(name, f.read(), version="2.0.0", memory_mb=32,
                                   timeout_ms=500, config={"needle": "zzz"})
    assert (info.name, info.version, info.config) == (name, "2.0.0", {"needle": "zzz"})
    assert info.memory_bytes == 32 << 20 and info.timeout_ms == 500 and len(info.sha256) == 64
    assert name in [p.name for p in admin.list_plugins()]
    topic = new_topic(admin, "plugged")
    admin.set_topic_plugins(topic, [name])
    with pytest.raises(weir.ApiError) as ei:
        admin.remove_plugin(name)  # in use
    assert ei.value.status in (409, 400)
    with broker.writer(topic) as w:
        w.write(b"bad is fine: the plugin looks for another word")
        with pytest.raises(weir.RejectedError) as rej:
            w.write(b"zzz")
    assert "zzz" in rej.value.reason
    assert isinstance(admin.plugin_logs(name, limit=10), list)
    admin.set_topic_plugins(topic, [])
    admin.remove_plugin(name)
    assert name not in [p.name for p in admin.list_plugins()]
