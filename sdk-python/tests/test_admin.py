"""Admin: topics, configs, partitions, groups, offset resets."""

from __future__ import annotations

import time

import pytest

import weir
from conftest import new_topic, read_n, unique, wait_until

pytestmark = pytest.mark.timeout(120)


def test_partitions_and_configs(admin):
    topic = new_topic(admin, "cfgs", partitions=2, retention_ms="60000")
    admin.create_partitions(topic, 5)
    wait_until(lambda: len(admin.describe_topic(topic).partitions) == 5, desc="5 partitions")
    info = admin.describe_topic(topic)
    assert all(p.leader >= 0 and p.leader in p.replicas and p.isr for p in info.partitions)
    admin.alter_topic_configs(topic, set={"cleanup.policy": "compact"})
    cfg = admin.describe_topic(topic).configs
    assert cfg["cleanup.policy"] == "compact"
    assert cfg["retention.ms"] == "60000", "incremental: other overrides stay"
    admin.alter_topic_configs(topic, delete=["retention.ms"])
    assert admin.describe_topic(topic).configs["retention.ms"] != "60000"


def test_groups_describe_lag_reset_delete(broker, admin):
    topic = new_topic(admin, "groups", partitions=2)
    group = unique("g")
    t_mid = None
    with broker.writer(topic, balancer="round_robin") as w:
        w.write_messages(*[f"a{i}" for i in range(4)])
        time.sleep(0.05)
        t_mid = int(time.time() * 1000)
        time.sleep(0.05)
        w.write_messages(*[f"b{i}" for i in range(4)])
    with broker.reader(topic, group_id=group, client_id="sdk-python-test") as r:
        msgs = read_n(r, 8)
        r.commit_messages(msgs)
        g = admin.describe_group(group)
        assert g.group_id == group and g.state == "Stable"
        assert g.protocol_type == "consumer"
        [member] = g.members
        assert member.client_id == "sdk-python-test"
        assert sorted(member.assignment) == [(topic, 0), (topic, 1)]
        assert group in [x.group_id for x in admin.list_groups()]
    lag = sorted((l.partition, l.position, l.lag) for l in admin.group_lag(group))
    assert lag == [(0, 4, 0), (1, 4, 0)]
    assert admin.reset_offsets(group, topic, "earliest") == {0: 0, 1: 0}
    assert admin.reset_offsets(group, topic, 3) == {0: 3, 1: 3}
    assert admin.reset_offsets(group, topic, 100) == {0: 4, 1: 4}, "clamped"
    assert admin.reset_offsets(group, topic, {"timestamp": t_mid}) == {0: 2, 1: 2}
    assert sorted((l.partition, l.lag) for l in admin.group_lag(group)) == [(0, 2), (1, 2)]
    with broker.reader(topic, group_id=group) as r:
        assert sorted(m.value_str() for m in read_n(r, 4)) == ["b0", "b1", "b2", "b3"]
    assert admin.reset_offsets(group, topic, "latest") == {0: 4, 1: 4}
    with pytest.raises(TypeError):
        admin.reset_offsets(group, topic, {"when": 1})
    admin.delete_group(group)
    assert admin.describe_group(group).state == "Dead"
    assert admin.describe_group(unique("never")).state == "Dead"
