"""asyncio API: :class:`Writer`, :class:`Reader` and :class:`Admin` with the methods of their
synchronous namesakes as coroutines.

Each call runs the native (GIL-free) call on a thread pool; when the awaiting task is cancelled
the call's :class:`weir.Context` is cancelled too, so no thread stays blocked on a read::

    async with weir.aio.Reader(brokers, "orders", group_id="billing") as reader:
        async for msg in reader:
            await handle(msg)
"""

from __future__ import annotations

import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, TypeVar, Union

from . import _weir
from . import admin as _admin
from . import reader as _reader
from . import writer as _writer
from .errors import ClosedError
from .message import Bytesish, Delivery, Headers, Message
from .reader import PartitionLag, TopicPartition

__all__ = ["Writer", "Reader", "Admin"]

T = TypeVar("T")

_EXECUTOR: Optional[ThreadPoolExecutor] = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            # Calls block on the network (a read may wait long), so more threads than cores.
            _EXECUTOR = ThreadPoolExecutor(max_workers=64, thread_name_prefix="weir-aio")
        return _EXECUTOR


async def _run(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(fn, *args, **kw))


async def _run_ctx(fn: Callable[..., T], *args: Any, ctx: Optional[_weir.Context] = None,
                   **kw: Any) -> T:
    """Runs ``fn(..., ctx=…)``; cancelling the awaiting task cancels the context."""
    own = _weir.Context() if ctx is None else ctx
    try:
        return await _run(fn, *args, ctx=own, **kw)
    except asyncio.CancelledError:
        own.cancel()
        raise


class Writer:
    """asyncio :class:`weir.Writer`; same options."""

    def __init__(self, brokers: str, topic: Optional[str] = None, **options: Any) -> None:
        self._sync = _writer.Writer(brokers, topic, **options)

    @property
    def topic(self) -> Optional[str]:
        return self._sync.topic

    @property
    def closed(self) -> bool:
        return self._sync.closed

    async def write_messages(self, *msgs: Union[Message, bytes, str],
                             timeout: Optional[float] = None,
                             ctx: Optional[_weir.Context] = None) -> List[Delivery]:
        """See :meth:`weir.Writer.write_messages`."""
        return await _run_ctx(self._sync.write_messages, *msgs, timeout=timeout, ctx=ctx)

    async def write(self, value: Optional[Bytesish], key: Optional[Bytesish] = None,
                    headers: Optional[Headers] = None, partition: Optional[int] = None,
                    topic: Optional[str] = None, timestamp_ms: Optional[int] = None, *,
                    timeout: Optional[float] = None,
                    ctx: Optional[_weir.Context] = None) -> Delivery:
        """See :meth:`weir.Writer.write`."""
        m = Message(value=value, key=key, headers=headers, topic=topic, partition=partition,
                    timestamp_ms=timestamp_ms)
        return (await self.write_messages(m, timeout=timeout, ctx=ctx))[0]

    async def flush(self, timeout: float = 30.0) -> None:
        await _run(self._sync.flush, timeout)

    async def close(self) -> None:
        await _run(self._sync.close)

    async def __aenter__(self) -> "Writer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class Reader:
    """asyncio :class:`weir.Reader`; same options. Connects on ``await reader.start()``,
    ``async with`` or the first call; ``async for msg in reader`` reads until closed."""

    FIRST_OFFSET = _reader.FIRST_OFFSET
    LAST_OFFSET = _reader.LAST_OFFSET

    def __init__(self, brokers: str, topic: Optional[str] = None, **options: Any) -> None:
        self._args = (brokers, topic)
        self._options = options
        self._sync: Optional[_reader.Reader] = None
        self._closed = False
        self._starting: Optional[asyncio.Lock] = None

    async def start(self) -> "Reader":
        """Creates the underlying reader (joins the group or assigns partitions)."""
        await self._reader()
        return self

    async def _reader(self) -> _reader.Reader:
        if self._sync is not None:
            return self._sync
        if self._closed:
            raise ClosedError("closed")
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._sync is None:
                self._sync = await _run(_reader.Reader, *self._args, **self._options)
        return self._sync

    @property
    def closed(self) -> bool:
        return self._closed

    async def read_message(self, timeout: Optional[float] = None,
                           ctx: Optional[_weir.Context] = None) -> Message:
        """See :meth:`weir.Reader.read_message`."""
        r = await self._reader()
        return await _run_ctx(r.read_message, timeout, ctx=ctx)

    async def fetch_message(self, timeout: Optional[float] = None,
                            ctx: Optional[_weir.Context] = None) -> Message:
        """See :meth:`weir.Reader.fetch_message`."""
        r = await self._reader()
        return await _run_ctx(r.fetch_message, timeout, ctx=ctx)

    async def commit_messages(self, *msgs: Union[Message, Iterable[Message]]) -> None:
        r = await self._reader()
        await _run(r.commit_messages, *msgs)

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        r = await self._reader()
        await _run(r.seek, topic, partition, offset)

    async def set_offset(self, offset: int) -> None:
        r = await self._reader()
        await _run(r.set_offset, offset)

    async def assignment(self) -> List[TopicPartition]:
        r = await self._reader()
        return r.assignment()

    async def lag(self) -> List[PartitionLag]:
        r = await self._reader()
        return await _run(r.lag)

    async def pause(self, partitions: Iterable[TopicPartition]) -> None:
        r = await self._reader()
        r.pause(partitions)

    async def resume(self, partitions: Iterable[TopicPartition]) -> None:
        r = await self._reader()
        r.resume(partitions)

    async def close(self) -> None:
        """Commits and leaves the group; pending reads raise :class:`weir.ClosedError`."""
        self._closed = True
        if self._sync is not None:
            await _run(self._sync.close)

    def __aiter__(self) -> "Reader":
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.read_message()
        except ClosedError:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> "Reader":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class Admin:
    """asyncio :class:`weir.Admin`; same options and methods, as coroutines."""

    def __init__(self, brokers: str, admin_url: Optional[str] = None, **options: Any) -> None:
        self._sync = _admin.Admin(brokers, admin_url, **options)

    @property
    def admin_url(self) -> str:
        return self._sync.admin_url

    async def create_topic(self, name: str, partitions: int = 1, replication_factor: int = -1,
                           configs: Optional[Mapping[str, Any]] = None) -> None:
        await _run(self._sync.create_topic, name, partitions, replication_factor, configs)

    async def delete_topic(self, name: str) -> None:
        await _run(self._sync.delete_topic, name)

    async def create_partitions(self, name: str, total: int) -> None:
        await _run(self._sync.create_partitions, name, total)

    async def list_topics(self) -> List[str]:
        return await _run(self._sync.list_topics)

    async def describe_topic(self, name: str) -> _admin.TopicInfo:
        return await _run(self._sync.describe_topic, name)

    async def alter_topic_configs(self, name: str, set: Optional[Mapping[str, Any]] = None,
                                  delete: Optional[Iterable[str]] = None) -> None:
        await _run(self._sync.alter_topic_configs, name, set, delete)

    async def list_groups(self) -> List[_admin.GroupInfo]:
        return await _run(self._sync.list_groups)

    async def describe_group(self, group: str) -> _admin.GroupInfo:
        return await _run(self._sync.describe_group, group)

    async def group_lag(self, group: str) -> List[PartitionLag]:
        return await _run(self._sync.group_lag, group)

    async def reset_offsets(self, group: str, topic: str,
                            to: Union[str, int, Mapping[str, int]] = "earliest"
                            ) -> Dict[int, int]:
        return await _run(self._sync.reset_offsets, group, topic, to)

    async def delete_group(self, group: str) -> None:
        await _run(self._sync.delete_group, group)

    async def deploy_plugin(self, name: str, wasm: Any, version: str = "1",
                            memory_mb: Optional[int] = None, timeout_ms: Optional[int] = None,
                            config: Optional[Mapping[str, Any]] = None) -> _admin.PluginInfo:
        return await _run(self._sync.deploy_plugin, name, wasm, version, memory_mb,
                          timeout_ms, config)

    async def list_plugins(self) -> List[_admin.PluginInfo]:
        return await _run(self._sync.list_plugins)

    async def describe_plugin(self, name: str) -> _admin.PluginInfo:
        return await _run(self._sync.describe_plugin, name)

    async def remove_plugin(self, name: str) -> None:
        await _run(self._sync.remove_plugin, name)

    async def plugin_logs(self, name: str, limit: int = 100) -> List[_admin.PluginLogLine]:
        return await _run(self._sync.plugin_logs, name, limit)

    async def set_topic_plugins(self, topic: str, names: Iterable[str]) -> None:
        await _run(self._sync.set_topic_plugins, topic, names)

    async def inspect_dead_letters(self, topic: str, offset: int = 0,
                                   limit: int = 100) -> List[_admin.DeadLetter]:
        return await _run(self._sync.inspect_dead_letters, topic, offset, limit)

    async def replay_dead_letters(self, topic: str, to: Optional[str] = None,
                                  from_offset: Optional[int] = None) -> _admin.ReplayReport:
        return await _run(self._sync.replay_dead_letters, topic, to, from_offset)

    async def close(self) -> None:
        self._sync.close()

    async def __aenter__(self) -> "Admin":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
