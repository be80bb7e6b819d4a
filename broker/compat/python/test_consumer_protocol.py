"""KIP-848's consumer group protocol (`group.protocol=consumer`) through librdkafka: the broker
assigns partitions itself (ConsumerGroupHeartbeat), members reconcile incrementally, offsets are
committed with the member epoch, and the admin tools see the group."""

import threading
import time

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
)

import weirtest as w


class Member(threading.Thread):
    """A consumer-protocol member polling in its own thread; commits each record synchronously."""

    def __init__(self, bootstrap, group, topics, **cfg):
        super().__init__(daemon=True)
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "logger": w.RDKAFKA_LOG,
        }
        conf.update(cfg)
        self.consumer = Consumer(conf)
        self.topics = topics
        self.assignment = set()
        self.records = []
        self.errors = []
        self.stop = threading.Event()

    # The protocol is incremental: each callback carries what is added or taken away.
    def _assign(self, c, parts):
        self.assignment = self.assignment | {(p.topic, p.partition) for p in parts}

    def _revoke(self, c, parts):
        self.assignment = self.assignment - {(p.topic, p.partition) for p in parts}

    def run(self):
        self.consumer.subscribe(self.topics, on_assign=self._assign, on_revoke=self._revoke, on_lost=self._revoke)
        while not self.stop.is_set():
            m = self.consumer.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    self.errors.append(str(m.error()))
                continue
            self.records.append((m.topic(), m.partition(), m.offset()))
            try:
                self.consumer.commit(m, asynchronous=False)
            except KafkaException as e:
                self.errors.append(f"commit: {e}")
        self.consumer.close()


def owned(crew):
    return [tp for m in crew for tp in m.assignment]


def test_members_share_partitions_and_hand_them_over(broker):
    topic = w.unique("kip848")
    w.create_topic(broker.bootstrap, topic, partitions=6)
    group = w.unique("g")
    crew = [Member(broker.bootstrap, group, [topic]) for _ in range(3)]
    for m in crew:
        m.start()
    w.wait_until(
        lambda: len(owned(crew)) == 6 and len(set(owned(crew))) == 6 and all(len(m.assignment) == 2 for m in crew),
        timeout=60,
        desc="3 members own 2 partitions each",
    )
    prod = w.producer(broker.bootstrap)
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": b"a", "partition": i % 6} for i in range(300)]))
    w.wait_until(lambda: sum(len(m.records) for m in crew) >= 300, timeout=60, desc="300 records consumed")

    a = w.admin(broker.bootstrap)
    # Described with ConsumerGroupDescribe (KIP-848): the group's type and assignor, and each
    # member's target assignment beside its current one.
    w.wait_until(
        lambda: a.describe_consumer_groups([group])[group].result().state == ConsumerGroupState.STABLE,
        timeout=30,
        desc="the group described as stable",
    )
    d = a.describe_consumer_groups([group])[group].result()
    assert d.type == ConsumerGroupType.CONSUMER, d
    assert d.partition_assignor == "uniform", d
    assert len(d.members) == 3
    described = sorted(tp.partition for m in d.members for tp in m.assignment.topic_partitions)
    assert described == list(range(6)), d
    for m in d.members:
        assert m.target_assignment is not None, m
        now = sorted((tp.topic, tp.partition) for tp in m.assignment.topic_partitions)
        target = sorted((tp.topic, tp.partition) for tp in m.target_assignment.topic_partitions)
        assert now == target, m
    listed = {g.group_id: g for g in a.list_consumer_groups().result().valid}
    assert listed[group].type == ConsumerGroupType.CONSUMER, listed[group]

    # One member leaves: the other two take its partitions and go on from its commits.
    leaver = crew.pop()
    leaver.stop.set()
    leaver.join(timeout=30)
    w.wait_until(
        lambda: len(set(owned(crew))) == 6 and all(len(m.assignment) == 3 for m in crew),
        timeout=60,
        desc="2 members own 3 partitions each",
    )
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": b"b", "partition": i % 6} for i in range(300)]))
    w.wait_until(
        lambda: sum(len(m.records) for m in crew + [leaver]) >= 600, timeout=60, desc="600 records consumed"
    )
    time.sleep(1.0)  # anything read twice would show up now
    for m in crew:
        m.stop.set()
        m.join(timeout=30)
    seen = [r for m in crew + [leaver] for r in m.records]
    assert len(seen) == 600 and len(set(seen)) == 600, "every record consumed exactly once"
    assert not [e for m in crew + [leaver] for e in m.errors], [m.errors for m in crew + [leaver]]
    res = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    assert sorted((tp.partition, tp.offset) for tp in res.topic_partitions) == [(p, 100) for p in range(6)]
    # Empty now, and still a consumer-protocol group.
    listed = {g.group_id: g for g in a.list_consumer_groups().result().valid}
    assert (listed[group].state, listed[group].type) == (ConsumerGroupState.EMPTY, ConsumerGroupType.CONSUMER)


def test_new_partitions_and_regex_subscriptions_are_assigned(broker):
    prefix = w.unique("rx")
    w.create_topic(broker.bootstrap, f"{prefix}-a", partitions=2)
    group = w.unique("g")
    m = Member(broker.bootstrap, group, [f"^{prefix}-.*"], **{"topic.metadata.refresh.interval.ms": 1000})
    m.start()
    w.wait_until(lambda: len(m.assignment) == 2, timeout=60, desc="the regex's first topic assigned")
    w.create_topic(broker.bootstrap, f"{prefix}-b", partitions=3)
    w.wait_until(lambda: len(m.assignment) == 5, timeout=60, desc="a topic created later assigned too")
    assert {t for t, _ in m.assignment} == {f"{prefix}-a", f"{prefix}-b"}
    m.stop.set()
    m.join(timeout=30)
    assert not m.errors, m.errors


def test_members_come_back_after_a_broker_restart(broker_factory):
    """A restarted coordinator has forgotten the members (Weir keeps consumer-protocol membership in
    memory): their next heartbeat is answered UNKNOWN_MEMBER_ID, they rejoin and go on from their
    committed offsets. Nothing is lost."""
    b = broker_factory()
    topic = w.unique("restart848")
    w.create_topic(b.bootstrap, topic, partitions=4)
    group = w.unique("g")
    crew = [Member(b.bootstrap, group, [topic]) for _ in range(2)]
    for m in crew:
        m.start()
    w.wait_until(lambda: all(len(m.assignment) == 2 for m in crew), timeout=60, desc="split 2/2")
    prod = w.producer(b.bootstrap)
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": b"a", "partition": i % 4} for i in range(40)]))
    w.wait_until(lambda: sum(len(m.records) for m in crew) >= 40, timeout=30, desc="first batch consumed")
    b.stop()
    b.start(same_port=True)
    w.assert_delivered(w.produce_sync(prod, topic, [{"value": b"b", "partition": i % 4} for i in range(40)]))
    w.wait_until(
        lambda: {r for m in crew for r in m.records} >= {(topic, p, o) for p in range(4) for o in range(20)},
        timeout=90,
        desc="every record of both batches consumed",
    )
    w.wait_until(lambda: len(set(owned(crew))) == 4, timeout=60, desc="the 4 partitions owned again")
    for m in crew:
        m.stop.set()
        m.join(timeout=30)


def test_a_classic_member_cannot_join_a_consumer_protocol_group(broker):
    topic = w.unique("mixed")
    w.create_topic(broker.bootstrap, topic, partitions=2)
    group = w.unique("g")
    m = Member(broker.bootstrap, group, [topic])
    m.start()
    w.wait_until(lambda: len(m.assignment) == 2, timeout=60, desc="the consumer-protocol member owns both")
    errors = []
    classic = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group,
            "group.protocol": "classic",
            "logger": w.RDKAFKA_LOG,
            "error_cb": lambda e: errors.append(e),
        }
    )
    classic.subscribe([topic])
    deadline = time.time() + 20
    got = None
    while time.time() < deadline and got is None:
        msg = classic.poll(0.2)
        if msg is not None and msg.error():
            got = msg.error()
    classic.close()
    kept = set(m.assignment)
    m.stop.set()
    m.join(timeout=30)
    codes = {e.code() for e in errors} | ({got.code()} if got else set())
    assert KafkaError.INCONSISTENT_GROUP_PROTOCOL in codes, (got, errors)
    assert len(kept) == 2, "the consumer-protocol member kept its partitions"


def test_a_static_member_restarting_gets_its_partitions_back_without_a_rebalance(broker):
    topic = w.unique("static848")
    w.create_topic(broker.bootstrap, topic, partitions=4)
    group = w.unique("g")
    stay = Member(broker.bootstrap, group, [topic], **{"group.instance.id": "stay"})
    bounce = Member(broker.bootstrap, group, [topic], **{"group.instance.id": "bounce"})
    stay.start()
    bounce.start()
    w.wait_until(
        lambda: len(stay.assignment) == 2 and len(bounce.assignment) == 2, timeout=60, desc="split 2/2"
    )
    kept, had = set(stay.assignment), set(bounce.assignment)
    bounce.stop.set()
    bounce.join(timeout=30)
    # A static member's partitions wait for it (until its session lapses) rather than move.
    time.sleep(6)
    assert stay.assignment == kept
    # The same instance comes back in a new process: it gets its partitions again, and the
    # member that stayed never gave any up.
    again = Member(broker.bootstrap, group, [topic], **{"group.instance.id": "bounce"})
    again.start()
    w.wait_until(lambda: again.assignment == had, timeout=60, desc="the instance's partitions back")
    time.sleep(6)  # a rebalance, if any, would come with the next heartbeats (5 s apart)
    assert stay.assignment == kept
    for m in (stay, again):
        m.stop.set()
        m.join(timeout=30)
    assert not [e for m in (stay, bounce, again) for e in m.errors]
