"""Transactions in a three-broker cluster, through librdkafka's transactional producer
(confluent-kafka). The transaction coordinator is the leader of `__consumer_offsets-0`; the
partitions a transaction writes are led by all three brokers, so its COMMIT/ABORT markers
reach the other leaders as WriteTxnMarkers. Transaction state is replicated with the offsets
partition, so a coordinator killed mid-transaction is replaced and the transaction completes.
"""

import time

from confluent_kafka import Consumer, Producer, TopicPartition

from test_cluster import (  # noqa: F401  (`cluster` is a fixture)
    LEADER_AWARE,
    NODE_IDS,
    cluster,
    create_replicated_topic,
    wait_all_in_sync,
)
from weirtest import RDKAFKA_LOG, admin, unique, wait_until

OFFSETS = "__consumer_offsets"


def txn_producer(bootstrap, txn_id):
    return Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                     "logger": RDKAFKA_LOG, "transaction.timeout.ms": 60000, **LEADER_AWARE})


def read_all(bootstrap, topic, partitions, isolation, timeout=60):
    """Every value a fresh consumer reads from the beginning with `isolation`, once it reached
    the end of every partition (a stalled last stable offset would never let it)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"),
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": isolation, "logger": RDKAFKA_LOG, **LEADER_AWARE})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, eofs, deadline = [], set(), time.time() + timeout
    while len(eofs) < partitions and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eofs.add(m.partition())
            continue
        eofs.discard(m.partition())
        out.append(m.value().decode())
    c.close()
    assert len(eofs) == partitions, f"{isolation}: reached the end of only {sorted(eofs)}"
    return out


def leaders(bootstrap, topic):
    md = admin(bootstrap, **LEADER_AWARE).list_topics(topic, timeout=10).topics[topic]
    return {p: md.partitions[p].leader for p in md.partitions}


def coordinator(c):
    """The broker leading the offsets partition: the group and transaction coordinator."""
    def led():
        try:
            leader = leaders(c.bootstrap(), OFFSETS)[0]
        except Exception:  # noqa: BLE001 (not created yet, or no leader this instant)
            return None
        return leader if leader in NODE_IDS and c.nodes[leader].alive() else None
    return wait_until(led, timeout=30, desc="a leader of __consumer_offsets-0")


def open_transaction(c, txn_id, topic, prefix, n):
    """A transactional producer with a transaction open on the three partitions of `topic`
    (`n` records `prefix-i`, flushed), and the coordinator's node id. The offsets partition
    (created by the first coordinator lookup) is fully replicated first, so that its leader
    can die."""
    p = txn_producer(c.bootstrap(), txn_id)
    p.init_transactions(30)
    wait_all_in_sync(c, OFFSETS)
    victim = coordinator(c)
    p.begin_transaction()
    for i in range(n):
        p.produce(topic, value=f"{prefix}-{i}", partition=i % 3)
    p.flush(30)
    return p, victim


def test_commit_and_abort_reach_partitions_led_by_other_brokers(cluster):
    topic = unique("ctxn")
    create_replicated_topic(cluster, topic, 3)
    assert sorted(set(leaders(cluster.bootstrap(), topic).values())) == [1, 2, 3], \
        "the three partitions have three different leaders"

    p = txn_producer(cluster.bootstrap(), unique("tx"))
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(30):
        p.produce(topic, value=f"committed-{i}", partition=i % 3)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(15):
        p.produce(topic, value=f"aborted-{i}", partition=i % 3)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, value=f"last-{i}", partition=i)
    p.commit_transaction(30)

    committed = read_all(cluster.bootstrap(), topic, 3, "read_committed")
    expected = [f"committed-{i}" for i in range(30)] + [f"last-{i}" for i in range(3)]
    assert sorted(committed) == sorted(expected)
    uncommitted = read_all(cluster.bootstrap(), topic, 3, "read_uncommitted")
    assert sum(v.startswith("aborted-") for v in uncommitted) == 15


def test_consume_transform_produce_commits_offsets_with_the_transaction(cluster):
    src, dst = unique("src"), unique("dst")
    create_replicated_topic(cluster, src, 3)
    create_replicated_topic(cluster, dst, 3)
    seed = Producer({"bootstrap.servers": cluster.bootstrap(), "acks": "all",
                     "logger": RDKAFKA_LOG})
    for i in range(60):
        seed.produce(src, value=f"in-{i}", partition=i % 3)
    assert seed.flush(30) == 0

    group = unique("etl")
    c = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": group,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "isolation.level": "read_committed", "logger": RDKAFKA_LOG, **LEADER_AWARE})
    c.subscribe([src])
    p = txn_producer(cluster.bootstrap(), unique("etl-tx"))
    p.init_transactions(30)
    seen, deadline = 0, time.time() + 60
    while seen < 60 and time.time() < deadline:
        msgs = c.consume(50, 1.0)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce(dst, value=m.value().decode().replace("in-", "out-"),
                      partition=m.partition())
        p.send_offsets_to_transaction(c.position(c.assignment()),
                                      c.consumer_group_metadata(), 30)
        p.commit_transaction(30)
        seen += len(msgs)
    assert seen == 60, f"transformed {seen} of 60"
    committed = {tp.partition: tp.offset
                 for tp in c.committed([TopicPartition(src, q) for q in range(3)], timeout=10)}
    c.close()
    assert committed == {0: 20, 1: 20, 2: 20}, f"the group's offsets commit with it: {committed}"
    out = read_all(cluster.bootstrap(), dst, 3, "read_committed")
    assert sorted(out) == sorted(f"out-{i}" for i in range(60))


def test_a_transaction_completes_after_its_coordinator_is_killed(cluster):
    topic = unique("cfail")
    create_replicated_topic(cluster, topic, 3)
    p, victim = open_transaction(cluster, unique("survivor"), topic, "before", 30)
    # The coordinator has the transaction open on all three partitions; it dies.
    cluster.nodes[victim].kill()
    wait_until(lambda: coordinator(cluster) != victim, timeout=30,
               desc="a new transaction coordinator")
    for i in range(6):
        p.produce(topic, value=f"after-{i}", partition=i % 3)
    p.commit_transaction(60)

    # Survivors serve every partition; read_committed sees the whole transaction.
    wait_until(lambda: all(l in NODE_IDS and l != victim
                           for l in leaders(cluster.bootstrap(), topic).values()),
               timeout=30, desc="every partition led by a survivor")
    got = read_all(cluster.bootstrap(), topic, 3, "read_committed")
    assert sorted(got) == sorted([f"before-{i}" for i in range(30)]
                                 + [f"after-{i}" for i in range(6)])

    # The next transaction works too, and an aborted one stays invisible.
    p.begin_transaction()
    p.produce(topic, value="aborted", partition=0)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, value="next", partition=1)
    p.commit_transaction(30)
    got = read_all(cluster.bootstrap(), topic, 3, "read_committed")
    assert "next" in got and "aborted" not in got

    # The killed broker returns and catches up with the markers written while it was away.
    cluster.nodes[victim].start(same_port=True)
    wait_all_in_sync(cluster, topic)


def test_an_open_transaction_is_aborted_when_a_new_instance_starts_after_failover(cluster):
    topic = unique("cfence")
    create_replicated_topic(cluster, topic, 3)
    txn_id = unique("fenced")
    _old, victim = open_transaction(cluster, txn_id, topic, "zombie", 9)
    cluster.nodes[victim].kill()

    # A new instance with the same transactional id takes over at the new coordinator: the
    # open transaction is aborted, so read_committed consumers are not held back by it.
    new = txn_producer(cluster.bootstrap(), txn_id)
    new.init_transactions(60)
    new.begin_transaction()
    new.produce(topic, value="fresh", partition=2)
    new.commit_transaction(30)
    got = read_all(cluster.bootstrap(), topic, 3, "read_committed")
    assert got == ["fresh"], got
