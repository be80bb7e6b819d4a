"""The asyncio API (weir.aio)."""

from __future__ import annotations

import asyncio

import pytest

import weir
import weir.aio
from conftest import new_topic, unique

pytestmark = pytest.mark.timeout(120)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def test_async_write_read_and_async_for(broker, admin):
    topic = new_topic(admin, "aio")

    async def main():
        async with weir.aio.Writer(broker.kafka, topic, admin_url=broker.admin_url) as w:
            ds = await w.write_messages(*[weir.Message(f"m{i}", key="k") for i in range(5)])
            d = await w.write("last", headers=[("h", "1")])
            await w.flush(5)
        assert [x.offset for x in ds] == [0, 1, 2, 3, 4] and d.offset == 5
        got = []
        async with weir.aio.Reader(broker.kafka, topic, group_id=unique("g"),
                                   max_wait_ms=100) as r:
            async for m in r:
                got.append(m)
                if len(got) == 6:
                    break
            assert await r.assignment() == [(topic, 0)]
            [lag] = await r.lag()
            assert lag.high_watermark == 6
        assert r.closed
        return got

    got = run(main())
    assert [m.value_str() for m in got] == [f"m{i}" for i in range(5)] + ["last"]
    assert got[-1].headers == [("h", b"1")]


def test_concurrent_reads_and_writes_share_the_loop(broker, admin):
    topics = [new_topic(admin, "aio-many") for _ in range(3)]

    async def consume(topic):
        async with weir.aio.Reader(broker.kafka, topic, partition=0, max_wait_ms=100) as r:
            return [(await r.read_message(timeout=30)).value for _ in range(3)]

    async def main():
        readers = [asyncio.create_task(consume(t)) for t in topics]
        await asyncio.sleep(0.5)
        async with weir.aio.Writer(broker.kafka) as w:
            await asyncio.gather(*[w.write(f"{t}-{i}", topic=t) for t in topics
                                   for i in range(3)])
        return await asyncio.gather(*readers)

    results = run(main())
    for t, values in zip(topics, results):
        assert sorted(values) == sorted(f"{t}-{i}".encode() for i in range(3))


def test_cancelling_a_task_cancels_the_read(broker, admin):
    topic = new_topic(admin, "aio-cancel")

    async def main():
        r = await weir.aio.Reader(broker.kafka, topic, partition=0, max_wait_ms=100).start()
        try:
            task = asyncio.create_task(r.read_message())
            await asyncio.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(weir.TimeoutError):
                await r.read_message(timeout=0.3)
            async with weir.aio.Writer(broker.kafka, topic) as w:
                await w.write(b"after")
            assert (await r.read_message(timeout=15)).value == b"after"
            await r.seek(topic, 0, weir.FIRST_OFFSET)
            assert (await r.fetch_message(timeout=15)).offset == 0
        finally:
            await r.close()
        with pytest.raises(weir.ClosedError):
            await r.read_message(timeout=1)

    run(main())


def test_async_for_ends_on_close(broker, admin):
    topic = new_topic(admin, "aio-close")

    async def main():
        r = weir.aio.Reader(broker.kafka, topic, partition=0, max_wait_ms=100)
        got = []

        async def loop():
            async for m in r:
                got.append(m)

        task = asyncio.create_task(loop())
        async with weir.aio.Writer(broker.kafka, topic) as w:
            await w.write(b"one")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.1)
        await r.close()
        await asyncio.wait_for(task, 10)
        return got

    assert [m.value for m in run(main())] == [b"one"]


def test_async_admin(broker):
    async def main():
        async with weir.aio.Admin(broker.kafka, broker.admin_url) as a:
            name = unique("aio-admin")
            await a.create_topic(name, partitions=2, configs={"retention.ms": 7200000})
            info = await a.describe_topic(name)
            assert len(info.partitions) == 2 and info.configs["retention.ms"] == "7200000"
            assert name in await a.list_topics()
            await a.alter_topic_configs(name, set={"retention.ms": "3600000"})
            assert (await a.describe_topic(name)).configs["retention.ms"] == "3600000"
            assert isinstance(await a.list_groups(), list)
            assert isinstance(await a.list_plugins(), list)
            await a.delete_topic(name)
            with pytest.raises(weir.UnknownTopicError):
                for _ in range(50):
                    await a.describe_topic(name)
                    await asyncio.sleep(0.2)

    run(main())
