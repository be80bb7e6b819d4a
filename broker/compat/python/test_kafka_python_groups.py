"""Consumer groups through kafka-python's own (pure Python) group coordinator code: KafkaConsumer with a
group_id (FindCoordinator v2, JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3, OffsetCommit v7,
OffsetFetch v5) and KafkaAdminClient's group calls (ListGroups v2, DescribeGroups v3, OffsetFetch v5,
DeleteGroups v1). The confluent-kafka side lives in test_consumer_groups.py."""

import threading
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import NonEmptyGroupError, NoError
from kafka.structs import OffsetAndMetadata

import weirtest as w

GROUP_FLAGS = ("--group-initial-rebalance-delay-ms", "0")


@pytest.fixture(scope="module")
def gbroker(tmp_path_factory):
    """One broker for this module, with no initial rebalance delay."""
    b = w.Broker(str(tmp_path_factory.mktemp("weir-kp-groups") / "data"), args=GROUP_FLAGS, name="weir-kp-groups")
    b.start()
    yield b
    b.dispose()


def kp_admin(b):
    return KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=20000,
                            client_id="weir-compat-kp-groups-admin")


def kp_group_consumer(b, group, client_id, **cfg):
    conf = dict(bootstrap_servers=b.bootstrap, group_id=group, client_id=client_id,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=10000, heartbeat_interval_ms=500, max_poll_interval_ms=30000,
                request_timeout_ms=30000, fetch_max_wait_ms=200)
    conf.update(cfg)
    return KafkaConsumer(**conf)


def produce(b, topic, partitions, start, stop):
    """Values "v-{p}-{i}" for i in [start, stop) to every partition; returns nothing, fails on error."""
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks=1, enable_idempotence=False, linger_ms=5,
                      request_timeout_ms=20000, max_block_ms=20000)
    try:
        futs = [p.send(topic, value=f"v-{part}-{i}".encode(), partition=part)
                for i in range(start, stop) for part in range(partitions)]
        p.flush(timeout=30)
        for f in futs:
            f.get(timeout=30)
    finally:
        p.close(timeout=10)


def poll_until(consumer, n, out, timeout=60.0, commit=False):
    """Poll (bounded) until `out` holds at least n records; optionally commit after every poll."""
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"got {len(out)} of {n} records within {timeout}s"
        for _tp, recs in consumer.poll(timeout_ms=200).items():
            out.extend(recs)
        if commit:
            consumer.commit()
    return out


def wait_assigned(consumer, n, timeout=60.0):
    """Poll (without losing records: they are returned) until the consumer owns n partitions."""
    got = []
    deadline = time.monotonic() + timeout
    while len(consumer.assignment()) != n:
        assert time.monotonic() < deadline, f"assignment {consumer.assignment()} never reached {n} partitions"
        for _tp, recs in consumer.poll(timeout_ms=200).items():
            got.extend(recs)
    return got


def offsets_of(recs):
    by = {}
    for r in recs:
        by.setdefault(r.partition, []).append(r.offset)
    return {p: sorted(o) for p, o in by.items()}


def group_offsets(admin, group):
    return {tp.partition: om.offset for tp, om in admin.list_consumer_group_offsets(group).items()}


def test_subscribe_consume_commit_and_resume(gbroker):
    b = gbroker
    topic, group = w.unique("kp-resume"), w.unique("kp-g")
    w.create_topic(b.bootstrap, topic, partitions=3)
    produce(b, topic, 3, 0, 10)
    tps = [TopicPartition(topic, p) for p in range(3)]

    c = kp_group_consumer(b, group, "kp-first")
    try:
        c.subscribe([topic])
        recs = poll_until(c, 30, wait_assigned(c, 3))
        assert c.assignment() == set(tps)
        assert len(recs) == 30, "nothing read twice"
        assert offsets_of(recs) == {p: list(range(10)) for p in range(3)}
        assert all(r.value == f"v-{r.partition}-{r.offset}".encode() for r in recs)
        c.commit()  # synchronous OffsetCommit of the consumed positions
        assert [c.committed(tp) for tp in tps] == [10, 10, 10]
        # An explicit commit with metadata rewinds partition 0; read back with the metadata.
        c.commit({tps[0]: OffsetAndMetadata(4, "kp-rewind", -1)})
        assert c.committed(tps[0]) == 4
        om = c.committed(tps[0], metadata=True)
        assert (om.offset, om.metadata) == (4, "kp-rewind")
    finally:
        c.close(autocommit=False)

    produce(b, topic, 3, 10, 15)
    # A restarted consumer (new member of the same group) resumes at the committed offsets.
    c2 = kp_group_consumer(b, group, "kp-second")
    try:
        c2.subscribe([topic])
        recs = poll_until(c2, 21, wait_assigned(c2, 3))
        for _ in range(3):  # a few more polls: nothing beyond the 21 may show up
            for _tp, more in c2.poll(timeout_ms=200).items():
                recs.extend(more)
        assert offsets_of(recs) == {0: list(range(4, 15)), 1: list(range(10, 15)), 2: list(range(10, 15))}
        c2.commit()
        assert [c2.committed(tp) for tp in tps] == [15, 15, 15]
    finally:
        c2.close(autocommit=False)
    assert group_offsets(kp_admin(b), group) == {0: 15, 1: 15, 2: 15}


class KpMember(threading.Thread):
    """A kafka-python group member polling in its own thread; commits after every poll."""

    def __init__(self, b, group, topic, name):
        super().__init__(daemon=True)
        self.name_ = name
        self.consumer = kp_group_consumer(b, group, name)
        self.topic = topic
        self.records = []
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def owned(self):
        with self.lock:
            return {tp.partition for tp in self.consumer.assignment()}

    def run(self):
        try:
            self.consumer.subscribe([self.topic])
            while not self.stop.is_set():
                with self.lock:
                    batch = self.consumer.poll(timeout_ms=100)
                    for _tp, recs in batch.items():
                        self.records.extend((self.name_, r.partition, r.offset) for r in recs)
                    if batch:
                        self.consumer.commit()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))
        finally:
            self.consumer.close(autocommit=False)


def test_two_members_split_partitions_and_hand_over(gbroker):
    b = gbroker
    topic, group = w.unique("kp-split"), w.unique("kp-g")
    w.create_topic(b.bootstrap, topic, partitions=4)
    a, c = KpMember(b, group, topic, "kp-a"), KpMember(b, group, topic, "kp-b")
    a.start()
    w.wait_until(lambda: a.owned() == {0, 1, 2, 3}, timeout=60, desc="a owns all 4 partitions")
    c.start()
    w.wait_until(lambda: len(a.owned()) == 2 and len(c.owned()) == 2 and a.owned() | c.owned() == {0, 1, 2, 3},
                 timeout=60, desc="2/2 split")
    produce(b, topic, 4, 0, 10)
    w.wait_until(lambda: len(a.records) + len(c.records) >= 40, timeout=60, desc="40 records consumed")
    for m in (a, c):
        assert {p for (_n, p, _o) in m.records} <= m.owned(), f"{m.name_} read only its own partitions"
    c.stop.set()
    c.join(timeout=60)
    assert not c.is_alive()
    produce(b, topic, 4, 10, 20)
    w.wait_until(lambda: a.owned() == {0, 1, 2, 3}, timeout=60, desc="a owns all 4 again after b left")
    w.wait_until(lambda: len(a.records) + len(c.records) >= 80, timeout=60, desc="80 records consumed")
    time.sleep(0.5)  # a few more polls of a: nothing beyond the 80 may show up
    a.stop.set()
    a.join(timeout=60)
    assert not a.is_alive()
    assert a.errors == [] and c.errors == []
    seen = [(p, o) for m in (a, c) for (_n, p, o) in m.records]
    assert len(seen) == 80 and set(seen) == {(p, o) for p in range(4) for o in range(20)}, \
        "every record exactly once across the hand-over"
    assert group_offsets(kp_admin(b), group) == {p: 20 for p in range(4)}


def test_admin_list_describe_offsets_and_delete(gbroker):
    b = gbroker
    topic, group = w.unique("kp-admin"), w.unique("kp-g")
    w.create_topic(b.bootstrap, topic, partitions=2)
    produce(b, topic, 2, 0, 5)
    admin = kp_admin(b)
    c = kp_group_consumer(b, group, "kp-described")
    try:
        c.subscribe([topic])
        poll_until(c, 10, wait_assigned(c, 2))
        c.commit()

        listed = admin.list_consumer_groups()
        assert (group, "consumer") in [tuple(g[:2]) for g in listed], listed

        (d,) = admin.describe_consumer_groups([group])
        assert d.error_code == 0
        assert (d.group, d.state, d.protocol_type, d.protocol) == (group, "Stable", "consumer", "range")
        assert len(d.members) == 1
        m = d.members[0]
        assert m.member_id and m.client_id == "kp-described" and m.client_host
        assert list(m.member_metadata.topics) == [topic]
        assert [(t, sorted(ps)) for t, ps in m.member_assignment.assignment] == [(topic, [0, 1])]

        offs = admin.list_consumer_group_offsets(group)
        assert {tp: om.offset for tp, om in offs.items()} == {TopicPartition(topic, 0): 5, TopicPartition(topic, 1): 5}
        only0 = admin.list_consumer_group_offsets(group, partitions=[TopicPartition(topic, 0)])
        assert {tp.partition: om.offset for tp, om in only0.items()} == {0: 5}

        assert admin.delete_consumer_groups([group]) == [(group, NonEmptyGroupError)]
    finally:
        c.close(autocommit=False)  # LeaveGroup

    w.wait_until(lambda: admin.describe_consumer_groups([group])[0].state == "Empty", timeout=30,
                 desc="group Empty after the member left")
    (d,) = admin.describe_consumer_groups([group])
    assert d.members == []
    assert group_offsets(admin, group) == {0: 5, 1: 5}, "offsets outlive the members"
    assert admin.delete_consumer_groups([group]) == [(group, NoError)]
    assert group not in [g[0] for g in admin.list_consumer_groups()]
    assert admin.list_consumer_group_offsets(group) == {}
