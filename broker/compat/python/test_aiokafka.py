"""aiokafka (asyncio client) against Weir: AIOKafkaAdminClient (CreateTopics, Metadata,
DescribeConfigs, ListGroups, DescribeGroups, OffsetFetch, DeleteTopics), an idempotent acks=all
AIOKafkaProducer with every codec (snappy, lz4 and zstd through cramjam), a group AIOKafkaConsumer
(FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListOffsets)
and a transactional producer as read_committed and read_uncommitted consumers see it.

Every test body runs in its own event loop (asyncio.run) under an overall deadline, and every client
has a request timeout, so nothing can hang."""

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from weirtest import config_entries, unique

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
TOPIC_ALREADY_EXISTS = 36
TEST_DEADLINE_S = 120.0


def run(coro, timeout=TEST_DEADLINE_S):
    """Run one test body in a fresh event loop; fail (instead of hanging) after `timeout`."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def started_admin(b):
    a = AIOKafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=20000,
                            client_id="weir-compat-aiokafka-admin")
    await a.start()
    return a


async def create_topic(a, name, partitions):
    resp = await a.create_topics([NewTopic(name, partitions, 1)])
    assert [(t, err) for t, err, *_ in resp.topic_errors] == [(name, 0)]
    return name


def records_for(codec, n):
    tag = codec or "none"
    return [{"key": f"key-{i}".encode(), "value": f"aio-{tag}-{i}".encode() * 3,
             "headers": [("h", f"{i}".encode()), ("dup", b"1"), ("dup", b"2")]}
            for i in range(n)]


async def read_until(consumer, done, timeout=60.0):
    """getmany (bounded) until done(records) is true; returns every record read."""
    out = []
    deadline = time.monotonic() + timeout
    while not done(out):
        assert time.monotonic() < deadline, f"read {len(out)} records within {timeout}s, condition unmet"
        for recs in (await consumer.getmany(timeout_ms=500)).values():
            out.extend(recs)
    return out


def test_admin_topic_lifecycle(broker):
    async def body():
        a = await started_admin(broker)
        try:
            name = await create_topic(a, unique("aio-admin"), 3)

            again = await a.create_topics([NewTopic(name, 3, 1)])
            assert type(again).__name__.startswith("CreateTopicsResponse")
            assert [(t, err) for t, err, *_ in again.topic_errors] == [(name, TOPIC_ALREADY_EXISTS)]

            assert name in await a.list_topics()

            desc = await a.describe_topics([name])
            assert len(desc) == 1 and desc[0]["topic"] == name and desc[0]["error_code"] == 0
            parts = sorted(desc[0]["partitions"], key=lambda p: p["partition"])
            assert [p["partition"] for p in parts] == [0, 1, 2]
            for p in parts:
                assert p["error_code"] == 0
                assert p["leader"] == 1, p
                assert p["replicas"] == [1] and p["isr"] == [1], p

            cfg = config_entries(
                await a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)]), name)
            assert cfg.get("cleanup.policy") == "delete"

            resp = await a.delete_topics([name])
            assert [(t, err) for t, err, *_ in resp.topic_error_codes] == [(name, 0)]
            deadline = time.monotonic() + 20
            while name in await a.list_topics():
                assert time.monotonic() < deadline, f"{name} still listed 20 s after DeleteTopics"
                await asyncio.sleep(0.2)
        finally:
            await a.close()

    run(body())


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_idempotent_produce_group_consume_commit(broker, codec):
    """acks=all idempotent producer (one record per request, then a pipelined burst so the codec
    compresses multi-record batches); a group consumer reads everything back, commits, and the
    offsets it and the admin client see agree with the log."""
    async def body():
        tag = codec or "none"
        name = unique(f"aio-{tag}")
        group = unique(f"aio-group-{tag}")
        a = await started_admin(broker)
        try:
            await create_topic(a, name, 3)
            recs = records_for(codec, 60)

            p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True,
                                 compression_type=codec, linger_ms=20, request_timeout_ms=20000,
                                 client_id=f"weir-compat-aiokafka-{tag}")
            await p.start()
            try:
                metas = [await p.send_and_wait(name, **r) for r in recs[:30]]
                futs = [await p.send(name, **r) for r in recs[30:]]
                metas += await asyncio.gather(*futs)
            finally:
                await p.stop()
            by_part = {}
            for m in metas:
                assert m.topic == name
                by_part.setdefault(m.partition, []).append(m.offset)
            assert sorted(by_part) == [0, 1, 2], f"keys should spread over 3 partitions: {by_part}"
            for part, offs in by_part.items():
                assert offs == list(range(len(offs))), f"partition {part} offsets {offs}"
            expect = {(m.partition, m.offset): r for m, r in zip(metas, recs, strict=True)}

            c = AIOKafkaConsumer(name, bootstrap_servers=broker.bootstrap, group_id=group,
                                 client_id=f"weir-compat-aiokafka-{tag}-consumer",
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 session_timeout_ms=10000, heartbeat_interval_ms=500,
                                 fetch_max_wait_ms=200, request_timeout_ms=20000)
            await c.start()
            try:
                got = await read_until(c, lambda out: len(out) >= len(recs))
                assert len(got) == len(recs)
                assert sorted((m.partition, m.offset) for m in got) == sorted(expect)
                for m in got:
                    r = expect[(m.partition, m.offset)]
                    assert m.topic == name
                    assert m.key == r["key"]
                    assert m.value == r["value"]
                    assert list(m.headers) == r["headers"]

                await c.commit()
                tps = [TopicPartition(name, i) for i in range(3)]
                assert c.assignment() == set(tps)
                ends = await c.end_offsets(tps)
                assert ends == {tp: len(by_part[tp.partition]) for tp in tps}
                committed = {tp: await c.committed(tp) for tp in tps}
                assert committed == ends
                assert await c.beginning_offsets(tps) == dict.fromkeys(tps, 0)
                ts = await c.offsets_for_times({tps[0]: 0})
                assert ts[tps[0]] is not None and ts[tps[0]].offset == 0
            finally:
                await c.stop()  # LeaveGroup: the group becomes Empty

            assert (group, "consumer") in await a.list_consumer_groups()
            described = [g for resp in await a.describe_consumer_groups([group]) for g in resp.groups]
            assert len(described) == 1
            err, gid, state, protocol_type, _protocol, members = described[0][:6]
            assert (err, gid, state, protocol_type) == (0, group, "Empty", "consumer")
            assert members == []
            offsets = await a.list_consumer_group_offsets(group)
            assert {tp: om.offset for tp, om in offsets.items()} == committed

            resp = await a.delete_topics([name])
            assert [(t, err) for t, err, *_ in resp.topic_error_codes] == [(name, 0)]
        finally:
            await a.close()

    run(body())


async def read_partition(b, tp, isolation, until_value, timeout=30.0):
    """Everything an assign()-only consumer with `isolation` reads from the beginning of tp until
    it has seen the record `until_value`; returns [(offset, value)]."""
    c = AIOKafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, isolation_level=isolation,
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         fetch_max_wait_ms=200, request_timeout_ms=20000,
                         client_id=f"weir-compat-aiokafka-{isolation}")
    await c.start()
    try:
        c.assign([tp])
        await c.seek_to_beginning(tp)
        recs = await read_until(c, lambda out: any(m.value == until_value for m in out), timeout)
        return [(m.offset, m.value) for m in recs]
    finally:
        await c.stop()


def test_transactions_commit_and_abort(broker):
    async def body():
        name = unique("aio-txn")
        a = await started_admin(broker)
        try:
            await create_topic(a, name, 1)
        finally:
            await a.close()
        tp = TopicPartition(name, 0)
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique("aio-tx"),
                             request_timeout_ms=20000, client_id="weir-compat-aiokafka-txn")
        await p.start()
        try:
            await p.begin_transaction()
            committed = await p.send_and_wait(name, b"committed-0", partition=0)
            await p.commit_transaction()

            await p.begin_transaction()
            aborted = await p.send_and_wait(name, b"aborted-0", partition=0)
            await p.abort_transaction()

            async with p.transaction():
                last = await p.send_and_wait(name, b"last", partition=0)
        finally:
            await p.stop()
        # each transaction's marker takes an offset after its record
        assert (committed.offset, aborted.offset, last.offset) == (0, 2, 4)

        rc = await read_partition(broker, tp, "read_committed", b"last")
        assert rc == [(0, b"committed-0"), (4, b"last")]
        ru = await read_partition(broker, tp, "read_uncommitted", b"last")
        assert ru == [(0, b"committed-0"), (2, b"aborted-0"), (4, b"last")]

    run(body())
