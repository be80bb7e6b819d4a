"""Transactions through librdkafka's own transactional producer (confluent-kafka): commit and
abort as read_committed and read_uncommitted consumers see them, an exactly-once
consume-transform-produce loop across a crash of the client, and transaction timeouts."""

import subprocess
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

import weirtest as w


def txn_producer(bootstrap, txn_id, **cfg):
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "logger": w.RDKAFKA_LOG}
    conf.update(cfg)
    return Producer(conf)


def read_all(bootstrap, topic, partitions, isolation, expect_end=True):
    """Everything a fresh consumer with the given isolation level reads from the beginning."""
    c = w.consumer(bootstrap, **{"isolation.level": isolation})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, eofs, deadline = [], set(), time.time() + 20
    while len(eofs) < partitions and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:
                eofs.add(m.partition())
            continue
        out.append(m.value().decode())
    c.close()
    assert len(eofs) == partitions or not expect_end, "reached the end of every partition"
    return out


def test_commit_and_abort_as_consumers_see_them(broker):
    topic = w.unique("txn")
    w.create_topic(broker.bootstrap, topic, partitions=2)
    p = txn_producer(broker.bootstrap, w.unique("tx"))
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, value=f"committed-{i}", partition=i % 2)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=f"aborted-{i}", partition=i % 2)
    p.flush(30)
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, value="last", partition=0)
    p.commit_transaction(30)
    committed = read_all(broker.bootstrap, topic, 2, "read_committed")
    assert sorted(committed) == sorted([f"committed-{i}" for i in range(10)] + ["last"])
    uncommitted = read_all(broker.bootstrap, topic, 2, "read_uncommitted")
    assert sum(v.startswith("aborted-") for v in uncommitted) == 5, "read_uncommitted sees aborted data"


def test_open_transaction_holds_back_read_committed(broker):
    topic = w.unique("lso")
    w.create_topic(broker.bootstrap, topic, partitions=1)
    p = txn_producer(broker.bootstrap, w.unique("tx"))
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value="pending")
    p.flush(30)
    assert read_all(broker.bootstrap, topic, 1, "read_committed") == []
    lo, hi = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "x", "isolation.level": "read_committed"}
    ).get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert hi == 0, "read_committed end offset is the last stable offset"
    p.commit_transaction(30)
    assert read_all(broker.bootstrap, topic, 1, "read_committed") == ["pending"]


EOS_SCRIPT = r"""
import sys, time
from confluent_kafka import Consumer, Producer, TopicPartition
bootstrap, src, dst, group, txn_id, crash_after = sys.argv[1:7]
crash_after = int(crash_after)
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "isolation.level": "read_committed",
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id})
p.init_transactions(30)
c.subscribe([src])
done, idle, deadline = 0, 0, time.time() + 90
# Stop after 30 empty polls once partitions are assigned (the crashed instance's membership
# first has to expire), or at the deadline.
while idle < 30 and time.time() < deadline:
    batch = c.consume(50, 0.3)
    if not batch:
        if c.assignment():
            idle += 1
        continue
    idle = 0
    p.begin_transaction()
    for m in batch:
        if m.error():
            continue
        p.produce(dst, key=m.key(), value=b"out-" + m.value())
        done += 1
        if crash_after and done >= crash_after:
            p.flush(30)
            print("crashing mid-transaction", flush=True)
            time.sleep(60)  # killed here, with the transaction open
    p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
    p.commit_transaction(30)
print("finished", done, flush=True)
c.close()
"""


def test_exactly_once_consume_transform_produce_across_a_client_crash(broker, tmp_path):
    src, dst = w.unique("eos-in"), w.unique("eos-out")
    w.create_topic(broker.bootstrap, src, partitions=3)
    w.create_topic(broker.bootstrap, dst, partitions=3)
    inputs = [{"key": f"k{i}", "value": f"{i}".encode(), "partition": i % 3} for i in range(300)]
    w.assert_delivered(w.produce_sync(w.producer(broker.bootstrap), src, inputs))
    script = tmp_path / "eos.py"
    script.write_text(EOS_SCRIPT)
    group, txn_id = w.unique("eos"), w.unique("eos-tx")
    args = [sys.executable, str(script), broker.bootstrap, src, dst, group, txn_id]
    first = subprocess.Popen(args + ["120"], stdout=subprocess.PIPE, text=True)
    try:
        line = first.stdout.readline()
        assert "crashing" in line, line
        first.kill()
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    # A new instance with the same transactional.id fences the dead one, whose open transaction
    # is aborted, and carries on from the last committed offsets.
    second = subprocess.run(args + ["0"], capture_output=True, text=True, timeout=120)
    assert "finished" in second.stdout, second.stdout + second.stderr
    out = read_all(broker.bootstrap, dst, 3, "read_committed")
    assert sorted(out) == sorted(f"out-{i}" for i in range(300)), "each input exactly once in the output"


def test_transaction_timeout_aborts_and_fences(broker):
    topic = w.unique("timeout")
    w.create_topic(broker.bootstrap, topic, partitions=1)
    p = txn_producer(broker.bootstrap, w.unique("tx"), **{"transaction.timeout.ms": 2000})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value="hung")
    p.flush(30)
    time.sleep(3.5)  # past the timeout: the coordinator aborts it
    # The aborted record never becomes visible, and the last stable offset moved past it.
    w.wait_until(
        lambda: Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "x", "isolation.level": "read_committed"})
        .get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1] == 2,
        timeout=20,
        desc="the abort marker makes the partition stable again",
    )
    assert read_all(broker.bootstrap, topic, 1, "read_committed") == []
    try:
        p.commit_transaction(10)
        raise AssertionError("committing a timed-out transaction must fail")
    except KafkaException as e:
        assert e.args[0].fatal() or e.args[0].txn_requires_abort() or "fenced" in str(e).lower(), str(e)


def test_open_transaction_survives_a_broker_restart(broker_factory):
    b = broker_factory()
    topic = w.unique("restart")
    w.create_topic(b.bootstrap, topic, partitions=1)
    p = txn_producer(b.bootstrap, w.unique("tx"))
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, value="before-restart")
    p.flush(30)
    b.stop()
    b.start(same_port=True)
    # Still held back: the transaction is open in the reloaded coordinator and partition state.
    assert read_all(b.bootstrap, topic, 1, "read_committed") == []
    p.produce(topic, value="after-restart")
    p.commit_transaction(30)
    assert read_all(b.bootstrap, topic, 1, "read_committed") == ["before-restart", "after-restart"]
