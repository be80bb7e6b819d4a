"""Partition replication across three `weir serve` processes, seen through confluent-kafka.

Three brokers form one controller quorum (node ids 1-3, controller ports picked up front, Kafka
and HTTP on port 0, the Kafka port kept across restarts). A broker that stops heartbeating is
fenced after 1.5 s and a follower that has not caught up for 2 s leaves the ISR. Leaders are
found with AdminClient.list_topics; "in sync" is read from each running broker's own
/v1/cluster. Waits are generous and nothing asserts how long something took.
"""

import random
import socket
import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, ElectionType, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from weirtest import (
    ACTIVE_BROKERS,
    Broker,
    BrokerError,
    admin,
    consume_partition,
    http_json,
    producer,
    unique,
    wait_until,
    watermarks,
)

FLAGS = ["--broker-session-timeout-ms", "1500", "--replica-lag-time-max-ms", "2000"]
NODE_IDS = (1, 2, 3)
NOT_ENOUGH_REPLICAS = 19
NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
REQUEST_TIMED_OUT = 7
# Client settings that follow leadership changes quickly.
LEADER_AWARE = {"topic.metadata.refresh.interval.ms": 1000, "retry.backoff.ms": 100}


def free_port(taken=()):
    """A free 127.0.0.1 port for a controller listener, whose address must be known before it
    binds. Taken from 20000-32767, below Linux's ephemeral range, so that the port-0 binds of
    the brokers under test cannot grab it in between (as the Rust harness does)."""
    for _ in range(1000):
        port = random.randint(20000, 32767)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32767")


class Cluster:
    """Three quorum members; `nodes[id]` is the Broker started with `--node-id id`."""

    def __init__(self, tmp_dir):
        ports = []
        for _ in NODE_IDS:
            ports.append(free_port(ports))
        voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in zip(NODE_IDS, ports))
        self.nodes = {
            i: Broker(tmp_dir / f"node-{i}" / "data",
                      args=["--node-id", i, "--controller-voters", voters, *FLAGS],
                      name=f"node-{i}", log_dir=tmp_dir)
            for i in NODE_IDS
        }

    def start(self):
        # Each member becomes ready only once a majority is up: start all three at once.
        errors = []

        def run(b):
            try:
                b.start()
            except BrokerError as e:
                errors.append(e)

        threads = [threading.Thread(target=run, args=(b,)) for b in self.nodes.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        for b in self.nodes.values():
            wait_until(lambda b=b: len(cluster_view(b)["brokers"]) == 3, timeout=30,
                       desc=f"{b.name} to list three brokers")

    def running(self):
        return [b for b in self.nodes.values() if b.alive()]

    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.running())

    def dispose(self):
        for b in self.nodes.values():
            try:
                b.stop(timeout=10)
            except BrokerError:
                pass  # it was SIGKILLed after the timeout
            if b in ACTIVE_BROKERS:
                ACTIVE_BROKERS.remove(b)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        c.start()
        yield c
    finally:
        c.dispose()


def cluster_view(b):
    status, view = http_json(b, "GET", "/v1/cluster", timeout=10)
    assert status == 200, f"GET /v1/cluster on {b.name}: HTTP {status} {view}"
    return view


def in_sync(b, topic):
    """Whether broker `b` knows every partition of `topic` led and fully in sync."""
    view = cluster_view(b)
    bad = [p for key in ("under_replicated_partitions", "offline_partitions")
           for p in view[key] if p["topic"] == topic]
    status, topics = http_json(b, "GET", "/v1/topics", timeout=10)
    known = status == 200 and any(t["name"] == topic and t["partitions"] for t in topics)
    return known and not bad


def wait_all_in_sync(c, topic):
    for b in c.running():
        wait_until(lambda b=b: in_sync(b, topic), timeout=45,
                   desc=f"every partition of {topic} in sync as {b.name} sees it")


def create_replicated_topic(c, topic, partitions):
    a = admin(c.bootstrap())
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=3,
                                   config={"min.insync.replicas": "2"})], request_timeout=30)
    fs[topic].result(timeout=30)
    wait_all_in_sync(c, topic)
    md = a.list_topics(topic, timeout=10).topics[topic]
    assert len(md.partitions) == partitions
    for p in md.partitions.values():
        assert sorted(p.replicas) == [1, 2, 3], f"three replicas, one per broker: {p}"


def partition_md(c, topic, p):
    """Partition `p` of `topic` in Metadata from the running brokers (leader -1 when none)."""
    a = admin(c.bootstrap(), **LEADER_AWARE)
    return a.list_topics(topic, timeout=10).topics[topic].partitions[p]


def test_acks_all_idempotent_producer_loses_nothing_when_a_leader_is_killed(cluster):
    topic = unique("failover")
    create_replicated_topic(cluster, topic, 3)
    total = 2000

    acked = []  # (partition, offset, value)
    failed = []

    def on_delivery(err, msg):
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value().decode()))
        else:
            failed.append((msg.value(), err))

    prod = producer(cluster.bootstrap(), **LEADER_AWARE, **{
        "acks": "all", "enable.idempotence": True, "message.timeout.ms": 60000})
    victim = None
    for n in range(total):
        while True:
            try:
                prod.produce(topic, value=f"id-{n}".encode(), partition=n % 3,
                             on_delivery=on_delivery)
                break
            except BufferError:
                prod.poll(0.1)
        prod.poll(0)
        time.sleep(0.003)
        if n == total // 2:
            # Midway, once every partition has taken writes: SIGKILL the leader of partition 0.
            def every_partition_acked():
                prod.poll(0.1)
                return {a[0] for a in acked} == {0, 1, 2}

            wait_until(every_partition_acked, timeout=30,
                       desc="acknowledged writes on every partition")
            before = partition_md(cluster, topic, 0)
            victim = before.leader
            assert victim in NODE_IDS, f"partition 0 has a leader: {before}"
            cluster.nodes[victim].kill()
            # ... and keep producing through the failover.

    # A survivor names another leader, taken from the ISR.
    def new_leader():
        p = partition_md(cluster, topic, 0)
        return p.leader if p.leader not in (-1, victim) else None

    leader = wait_until(new_leader, timeout=30, desc="a new leader of partition 0")
    assert leader in before.isrs, f"new leader {leader} from the ISR {before.isrs}"

    remaining = prod.flush(90)
    assert remaining == 0, f"{remaining} records still undelivered"
    assert not failed, f"{len(failed)} deliveries failed, e.g. {failed[:3]}"
    assert len(acked) == total

    # The killed broker returns on the same data dir and ports, catches up and rejoins.
    cluster.nodes[victim].start(same_port=True)
    wait_all_in_sync(cluster, topic)

    for p in range(3):
        low, high = watermarks(cluster.bootstrap(), topic, p)
        msgs = consume_partition(cluster.bootstrap(), topic, p, start=OFFSET_BEGINNING,
                                 expected=high - low, timeout=60, **LEADER_AWARE)
        log = {m.offset(): m.value().decode() for m in msgs}
        mine = [(o, v) for (q, o, v) in acked if q == p]
        for offset, value in mine:
            assert log.get(offset) == value, f"acknowledged {value} at {p}/{offset}"
        values = list(log.values())
        assert len(set(values)) == len(values), f"partition {p}: a record is written twice"
        ns = [int(v[len("id-"):]) for v in values]
        assert ns == sorted(ns), f"partition {p}: records out of send order"
        assert all(n % 3 == p for n in ns), f"partition {p} holds another partition's record"
        assert len(mine) == len(values), f"partition {p}: {len(values)} records, {len(mine)} acked"

    # Leadership stays where the failover put it until a preferred election (what
    # kafka-leader-election sends) gives partition 0 back to its first replica.
    md = partition_md(cluster, topic, 0)
    preferred = md.replicas[0]
    tp = TopicPartition(topic, 0)
    a = admin(cluster.bootstrap(), **LEADER_AWARE)  # kept: the future needs its handle alive
    elected = a.elect_leaders(ElectionType.PREFERRED, [tp]).result(30)
    if md.leader == preferred:
        assert elected[tp] is not None and elected[tp].code() == KafkaError.ELECTION_NOT_NEEDED, elected
    else:
        assert elected[tp] is None, elected
        wait_until(lambda: partition_md(cluster, topic, 0).leader == preferred, timeout=30,
                   desc=f"the preferred replica {preferred} leading partition 0 again")


def raw_produce(b, node_id, topic, partition, value):
    """(error_code, base_offset) of a one-record acks=all Produce v8 sent to broker `b` itself
    through kafka-python's protocol classes; None when it does not answer."""
    from kafka.client_async import KafkaClient
    from kafka.protocol.produce import ProduceRequest
    from kafka.record.memory_records import MemoryRecordsBuilder

    builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    builder.append(timestamp=None, key=None, value=value, headers=[])
    builder.close()
    req = ProduceRequest[8](transactional_id=None, required_acks=-1, timeout=5000,
                            topics=[(topic, [(partition, builder.buffer())])])
    client = KafkaClient(bootstrap_servers=b.bootstrap, request_timeout_ms=15000)
    try:
        deadline = time.monotonic() + 10
        while not client.ready(node_id):
            if time.monotonic() > deadline:
                return None
            client.poll(timeout_ms=100)
        fut = client.send(node_id, req)
        client.poll(future=fut, timeout_ms=15000)
        if not fut.succeeded():
            return None
        [(_name, [part])] = fut.value.topics
        return part[1], part[2]
    finally:
        client.close()


def test_two_brokers_down_refuse_acks_all_with_not_enough_replicas(cluster):
    topic = unique("min-isr")
    create_replicated_topic(cluster, topic, 1)
    leader_id = partition_md(cluster, topic, 0).leader
    assert leader_id in NODE_IDS
    leader = cluster.nodes[leader_id]
    # The leader takes acks=all writes once it has opened the partition (NOT_LEADER_OR_FOLLOWER
    # until then).
    def accepted():
        answer = raw_produce(leader, leader_id, topic, 0, b"all three in sync")
        return answer is not None and answer[0] == 0

    wait_until(accepted, timeout=30, desc=f"acks=all accepted by the leader, node {leader_id}")

    # Both followers die (and the controller quorum with them): the leader, alone in sync by
    # replica.lag.time.max.ms, refuses acks=all. Until it notices, an attempt may time out or
    # fail after the append; none may succeed.
    followers = [i for i in NODE_IDS if i != leader_id]
    for i in followers:
        cluster.nodes[i].kill()
    codes = []

    def refused():
        answer = raw_produce(leader, leader_id, topic, 0, b"must fail")
        if answer is None:
            return False
        codes.append(answer[0])
        assert answer[0] in (NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                             REQUEST_TIMED_OUT), f"acks=all with both followers down: {codes}"
        return answer[0] == NOT_ENOUGH_REPLICAS

    wait_until(refused, timeout=30, desc="acks=all refused with NOT_ENOUGH_REPLICAS")

    # librdkafka retries NOT_ENOUGH_REPLICAS until message.timeout.ms: the delivery fails with
    # that error or with the timeout it ends in.
    results = []
    prod = producer(leader.bootstrap, **LEADER_AWARE, **{
        "acks": "all", "message.timeout.ms": 8000, "request.timeout.ms": 5000})
    prod.produce(topic, value=b"refused", partition=0,
                 on_delivery=lambda err, msg: results.append(err))
    assert prod.flush(30) == 0
    [err] = results
    assert err is not None, "an acks=all write was acknowledged with both followers down"
    assert err.code() in (KafkaError.NOT_ENOUGH_REPLICAS, KafkaError._MSG_TIMED_OUT), err

    # acks=1 still works on the leader alone.
    results.clear()
    prod = producer(leader.bootstrap, **{"acks": 1})
    prod.produce(topic, value=b"acks=1", partition=0,
                 on_delivery=lambda err, msg: results.append(err))
    assert prod.flush(30) == 0
    assert results == [None]

    # Both return and catch up: acks=all is accepted again.
    for i in followers:
        cluster.nodes[i].start(same_port=True)
    wait_all_in_sync(cluster, topic)
    results.clear()
    prod = producer(cluster.bootstrap(), **LEADER_AWARE, **{"acks": "all"})
    prod.produce(topic, value=b"both back", partition=0,
                 on_delivery=lambda err, msg: results.append(err))
    assert prod.flush(30) == 0
    assert results == [None]


def test_delete_records_holds_on_every_replica_through_a_failover(cluster):
    topic = unique("trim")
    create_replicated_topic(cluster, topic, 1)
    prod = producer(cluster.bootstrap(), **LEADER_AWARE, **{"acks": "all"})
    for i in range(20):
        prod.produce(topic, value=f"r{i}".encode(), partition=0)
    assert prod.flush(30) == 0

    # DeleteRecords goes to the leader; its followers follow its log start offset.
    a = admin(cluster.bootstrap(), **LEADER_AWARE)
    fs = a.delete_records([TopicPartition(topic, 0, 12)], request_timeout=30)
    [f] = fs.values()
    assert f.result(timeout=30).low_watermark == 12
    # The followers learn it with their next fetch; a produce makes sure one happened.
    prod.produce(topic, value=b"after", partition=0)
    assert prod.flush(30) == 0
    wait_all_in_sync(cluster, topic)

    leader = partition_md(cluster, topic, 0).leader
    cluster.nodes[leader].kill()
    wait_until(lambda: partition_md(cluster, topic, 0).leader not in (-1, leader),
               timeout=30, desc="a new leader")
    def marks():
        try:
            return watermarks(cluster.bootstrap(), topic, 0)
        except KafkaException:
            return None  # the client still asks the old leader, or the new one is not ready

    wait_until(lambda: marks() == (12, 21), timeout=30,
               desc="the new leader starts where the old one deleted to")
    msgs = consume_partition(cluster.bootstrap(), topic, 0, start=OFFSET_BEGINNING,
                             expected=9, timeout=30, **LEADER_AWARE)
    assert [m.value().decode() for m in msgs] == [f"r{i}" for i in range(12, 20)] + ["after"]


def test_consumer_protocol_group_survives_its_coordinator_being_killed(cluster):
    """KIP-848 members (group.protocol=consumer) on a replicated topic: the broker that
    coordinates the group is killed; the members find the new coordinator, rejoin (membership
    is not journalled) and go on from their committed offsets, with nothing lost."""
    from confluent_kafka import Consumer

    topic = unique("c848")
    create_replicated_topic(cluster, topic, 4)
    group = unique("g")
    got, errors, stop = set(), [], threading.Event()

    def member():
        c = Consumer({"bootstrap.servers": cluster.bootstrap(), "group.id": group,
                      "group.protocol": "consumer", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, **LEADER_AWARE})
        c.subscribe([topic])
        while not stop.is_set():
            m = c.poll(0.1)
            if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                continue
            if m.error():
                errors.append(m.error())
                continue
            got.add((m.partition(), m.offset()))
            try:
                c.commit(m, asynchronous=False)
            except KafkaException:
                pass  # a commit racing the coordinator's death: the record comes again
        c.close()

    threads = [threading.Thread(target=member, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    prod = producer(cluster.bootstrap(), **{"acks": "all", **LEADER_AWARE})
    for i in range(200):
        prod.produce(topic, value=f"a{i}".encode(), partition=i % 4)
    prod.flush(30)
    wait_until(lambda: len(got) >= 200, timeout=60, desc="first 200 records consumed")
    a = admin(cluster.bootstrap())
    coordinator = a.describe_consumer_groups([group])[group].result(timeout=30).coordinator.id
    cluster.nodes[coordinator].kill()
    for i in range(200):
        prod.produce(topic, value=f"b{i}".encode(), partition=i % 4)
    assert prod.flush(60) == 0, "every record acknowledged after the failover"
    wait_until(lambda: len(got) >= 400, timeout=120, desc="all 400 records consumed")
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert got == {(p, o) for p in range(4) for o in range(100)}
