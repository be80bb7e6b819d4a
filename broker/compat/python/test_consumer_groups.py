"""Consumer groups through librdkafka's own group code (confluent-kafka): partitions spread over
groups of 1, 2, 5, 10 and 15 members, committed offsets, offset resets and group admin."""

import threading
import time

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException, TopicPartition

import weirtest as w

PARTITIONS = 10
RECORDS = 400


class Member(threading.Thread):
    """One group member polling in its own thread, recording what it is assigned and reads."""

    def __init__(self, bootstrap, group, topic, **cfg):
        super().__init__(daemon=True)
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
            "logger": w.RDKAFKA_LOG,
        }
        conf.update(cfg)
        self.consumer = Consumer(conf)
        self.topic = topic
        self.assignment = set()
        self.rebalances = 0
        self.records = []
        self.errors = []
        self.stop = threading.Event()

    def _assign(self, c, parts):
        self.rebalances += 1
        self.assignment = {p.partition for p in parts}

    def _revoke(self, c, parts):
        self.assignment = set()

    def run(self):
        self.consumer.subscribe([self.topic], on_assign=self._assign, on_revoke=self._revoke)
        while not self.stop.is_set():
            m = self.consumer.poll(0.1)
            if m is None:
                continue
            if m.error():
                if not m.error().code() == -191:  # partition EOF
                    self.errors.append(str(m.error()))
                continue
            self.records.append((m.partition(), m.offset(), m.value()))
            self.consumer.commit(m, asynchronous=False)
        self.consumer.close()


@pytest.mark.parametrize("members", [1, 2, 5, 10, 15])
def test_partitions_spread_over_group_members(broker_factory, members):
    b = broker_factory("--group-initial-rebalance-delay-ms", "300")
    topic = w.unique("spread")
    w.create_topic(b.bootstrap, topic, partitions=PARTITIONS)
    group = w.unique("g")
    crew = [Member(b.bootstrap, group, topic) for _ in range(members)]
    for m in crew:
        m.start()

    a = w.admin(b.bootstrap)

    def settled():
        # Every member has joined (idle ones get an empty assignment too), the group is Stable
        # with all of them, and the partitions have exactly one owner each.
        owned = [p for m in crew for p in m.assignment]
        if len(owned) != PARTITIONS or len(set(owned)) != PARTITIONS or any(m.rebalances == 0 for m in crew):
            return False
        d = a.describe_consumer_groups([group])[group].result()
        return d.state == ConsumerGroupState.STABLE and len(d.members) == members

    w.wait_until(settled, timeout=60, desc=f"{members} members to share {PARTITIONS} partitions")
    rebalances_before = [m.rebalances for m in crew]
    owned_at_settle = [set(m.assignment) for m in crew]
    # Every partition has exactly one owner; members beyond the partition count sit idle.
    sizes = sorted(len(m.assignment) for m in crew)
    assert sum(sizes) == PARTITIONS
    assert sizes.count(0) == max(0, members - PARTITIONS)
    if members <= PARTITIONS:
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1, sizes

    prod = w.producer(b.bootstrap)
    records = [{"key": f"k{i}", "value": f"v{i}".encode(), "partition": i % PARTITIONS} for i in range(RECORDS)]
    w.assert_delivered(w.produce_sync(prod, topic, records))
    w.wait_until(lambda: sum(len(m.records) for m in crew) >= RECORDS, timeout=60, desc="all records consumed")
    time.sleep(1.0)  # anything read twice would show up now
    # Compared before anyone leaves: the first LeaveGroup rightly rebalances the others.
    assert [m.rebalances for m in crew] == rebalances_before, "no rebalance while members stayed healthy"
    for m in crew:
        m.stop.set()
    for m in crew:
        m.join(timeout=30)
    seen = [(p, o) for m in crew for (p, o, _) in m.records]
    assert len(seen) == RECORDS, "every record consumed exactly once"
    assert len(set(seen)) == RECORDS
    for m, owned in zip(crew, owned_at_settle):
        assert {p for (p, _, _) in m.records} <= owned, "each member reads only its own partitions"
        assert not m.errors, m.errors

    # Offsets were committed for every partition; the group is empty after everyone left.
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert sorted((tp.partition, tp.offset) for tp in res.topic_partitions) == [
        (p, RECORDS // PARTITIONS) for p in range(PARTITIONS)
    ]
    w.wait_until(
        lambda: a.describe_consumer_groups([group])[group].result().state == ConsumerGroupState.EMPTY,
        timeout=20,
        desc="group empty after members left",
    )


def test_member_leaving_hands_its_partitions_over(broker_factory):
    b = broker_factory("--group-initial-rebalance-delay-ms", "0")
    topic = w.unique("handover")
    w.create_topic(b.bootstrap, topic, partitions=4)
    group = w.unique("g")
    first, second = Member(b.bootstrap, group, topic), Member(b.bootstrap, group, topic)
    first.start()
    w.wait_until(lambda: len(first.assignment) == 4, timeout=30, desc="first member owns all")
    second.start()
    w.wait_until(lambda: len(first.assignment) == 2 and len(second.assignment) == 2, timeout=30, desc="split 2/2")
    prod = w.producer(b.bootstrap)
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": f"a{i}".encode(), "partition": i % 4} for i in range(40)]))
    w.wait_until(lambda: len(first.records) + len(second.records) >= 40, timeout=30, desc="first batch consumed")
    second.stop.set()
    second.join(timeout=30)
    w.wait_until(lambda: len(first.assignment) == 4, timeout=30, desc="partitions back with the first member")
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": f"b{i}".encode(), "partition": i % 4} for i in range(40)]))
    w.wait_until(lambda: len(first.records) + len(second.records) >= 80, timeout=30, desc="second batch consumed")
    time.sleep(0.5)
    first.stop.set()
    first.join(timeout=30)
    seen = [(p, o) for m in (first, second) for (p, o, _) in m.records]
    assert len(seen) == 80 and len(set(seen)) == 80, "committed offsets carried over: nothing lost or repeated"


def test_members_carry_on_across_a_broker_restart_without_a_rebalance(broker_factory):
    """The coordinator keeps the group's membership across a restart, as Kafka reloads it from
    __consumer_offsets: librdkafka's members go on heartbeating with their member ids and
    generation, so they are not assigned again, and no record is lost or read twice."""
    b = broker_factory("--group-initial-rebalance-delay-ms", "0")
    topic = w.unique("restart")
    w.create_topic(b.bootstrap, topic, partitions=4)
    group = w.unique("g")
    members = [Member(b.bootstrap, group, topic), Member(b.bootstrap, group, topic)]
    for m in members:
        m.start()
    w.wait_until(lambda: all(len(m.assignment) == 2 for m in members), timeout=30, desc="split 2/2")
    prod = w.producer(b.bootstrap)
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": f"a{i}".encode(), "partition": i % 4} for i in range(40)]))
    w.wait_until(lambda: sum(len(m.records) for m in members) >= 40, timeout=30, desc="first batch consumed")
    assigned = [m.rebalances for m in members]

    b.stop()
    b.start(same_port=True)
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": f"b{i}".encode(), "partition": i % 4} for i in range(40)]))
    w.wait_until(lambda: sum(len(m.records) for m in members) >= 80, timeout=60, desc="second batch consumed")
    time.sleep(2)  # a rejoin, if any, would come with the next heartbeats
    # Counted before the members close: the first to leave makes the other rejoin.
    after = [m.rebalances for m in members]
    for m in members:
        m.stop.set()
        m.join(timeout=30)
    assert after == assigned, "no member was assigned again after the restart"
    seen = [(p, o) for m in members for (p, o, _) in m.records]
    assert len(seen) == 80 and len(set(seen)) == 80, "nothing lost or repeated"
    assert not [e for m in members for e in m.errors], [m.errors for m in members]


def test_offset_reset_list_describe_and_delete(broker_factory):
    b = broker_factory("--group-initial-rebalance-delay-ms", "0")
    topic = w.unique("reset")
    w.create_topic(b.bootstrap, topic, partitions=2)
    prod = w.producer(b.bootstrap)
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": f"r{i}".encode(), "partition": i % 2} for i in range(20)]))
    a = w.admin(b.bootstrap)
    group = w.unique("g")
    # Reset an empty group's offsets from outside (kafka-consumer-groups --reset-offsets).
    tps = [TopicPartition(topic, 0, 7), TopicPartition(topic, 1, 3)]
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group].result()
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert sorted((tp.partition, tp.offset) for tp in res.topic_partitions) == [(0, 7), (1, 3)]
    listed = {g.group_id: g for g in a.list_consumer_groups().result().valid}
    assert listed[group].state == ConsumerGroupState.EMPTY
    # A member resumes from the reset positions: 10-7 + 10-3 records.
    m = Member(b.bootstrap, group, topic)
    m.start()
    w.wait_until(lambda: len(m.records) >= 10, timeout=30, desc="consume from the reset offsets")
    time.sleep(0.5)
    assert sorted((p, o) for (p, o, _) in m.records)[0] == (0, 7)
    assert len(m.records) == 10
    d = a.describe_consumer_groups([group])[group].result()
    assert d.state == ConsumerGroupState.STABLE and len(d.members) == 1
    assert {tp.partition for tp in d.members[0].assignment.topic_partitions} == {0, 1}
    stable = [g.group_id for g in a.list_consumer_groups(states={ConsumerGroupState.STABLE}).result().valid]
    assert group in stable
    # A group with members cannot be deleted; once empty it can.
    with pytest.raises(KafkaException) as e:
        a.delete_consumer_groups([group])[group].result()
    assert "NON_EMPTY_GROUP" in str(e.value)
    m.stop.set()
    m.join(timeout=30)
    w.wait_until(
        lambda: a.describe_consumer_groups([group])[group].result().state == ConsumerGroupState.EMPTY,
        timeout=20,
        desc="group empty",
    )
    a.delete_consumer_groups([group])[group].result()
    assert group not in {g.group_id for g in a.list_consumer_groups().result().valid}


MEMBER_SCRIPT = r"""
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "auto.offset.reset": "earliest",
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
assigned = []
c.subscribe([sys.argv[3]], on_assign=lambda cons, parts: assigned.extend(parts))
while True:
    c.poll(0.2)
    if assigned:
        print("assigned", len(assigned), flush=True)
        assigned.clear()
"""


def test_dead_member_is_evicted_after_its_session_timeout(broker_factory, tmp_path):
    """A member killed with SIGKILL never leaves; the coordinator must expire it (6 s session)
    and hand its partitions to the survivor."""
    import subprocess
    import sys

    b = broker_factory("--group-initial-rebalance-delay-ms", "0")
    topic = w.unique("evict")
    w.create_topic(b.bootstrap, topic, partitions=4)
    group = w.unique("g")
    script = tmp_path / "member.py"
    script.write_text(MEMBER_SCRIPT)
    doomed = subprocess.Popen([sys.executable, str(script), b.bootstrap, group, topic], stdout=subprocess.PIPE, text=True)
    try:
        assert "assigned" in doomed.stdout.readline(), "the doomed member joined"
        survivor = Member(b.bootstrap, group, topic)
        survivor.start()
        w.wait_until(lambda: len(survivor.assignment) == 2, timeout=30, desc="partitions split between the two")
        doomed.kill()
        doomed.wait(timeout=10)
        w.wait_until(lambda: len(survivor.assignment) == 4, timeout=30, desc="the dead member evicted")
        survivor.stop.set()
        survivor.join(timeout=30)
    finally:
        if doomed.poll() is None:
            doomed.kill()


def test_offsets_of_an_empty_group_expire(broker_factory):
    b = broker_factory("--offsets-retention-ms", "1500", "--group-initial-rebalance-delay-ms", "0")
    topic = w.unique("expire")
    w.create_topic(b.bootstrap, topic, partitions=1)
    a = w.admin(b.bootstrap)
    group = w.unique("g")
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])])[group].result()
    assert group in {g.group_id for g in a.list_consumer_groups().result().valid}
    w.wait_until(
        lambda: group not in {g.group_id for g in a.list_consumer_groups().result().valid},
        timeout=30,
        desc="offsets expired and the group is gone",
    )
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert all(tp.offset < 0 for tp in res.topic_partitions)


def test_a_group_that_never_committed_stays_listed_once_empty(broker_factory):
    """As at Kafka, a group whose members all left without committing is still listed (Empty)
    until the offsets sweep; it does not vanish the moment its last member leaves."""
    b = broker_factory("--group-initial-rebalance-delay-ms", "0")
    topic = w.unique("nocommit")
    w.create_topic(b.bootstrap, topic, partitions=1)
    group = w.unique("g")
    c = w.consumer(b.bootstrap, **{"group.id": group, "enable.auto.commit": False})
    c.subscribe([topic])
    w.wait_until(lambda: (c.poll(0.2), c.assignment())[1], timeout=30, desc="the member is assigned")
    c.close()
    a = w.admin(b.bootstrap)
    w.wait_until(
        lambda: a.describe_consumer_groups([group])[group].result().state == ConsumerGroupState.EMPTY,
        timeout=20,
        desc="group empty after its member left",
    )
    time.sleep(1.0)  # several coordinator ticks
    listed = {g.group_id: g for g in a.list_consumer_groups().result().valid}
    assert group in listed and listed[group].state == ConsumerGroupState.EMPTY
    a.delete_consumer_groups([group])[group].result()
    assert group not in {g.group_id for g in a.list_consumer_groups().result().valid}
