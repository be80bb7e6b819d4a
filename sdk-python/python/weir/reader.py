"""The synchronous :class:`Reader` (kafka-go's ``Reader``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _weir
from .errors import ClosedError, ConfigError
from .message import Message
from .writer import _extra

__all__ = ["Reader", "PartitionLag", "FIRST_OFFSET", "LAST_OFFSET"]

FIRST_OFFSET: int = _weir.FIRST_OFFSET
"""kafka-go's ``FirstOffset``: the oldest record still stored (for ``seek``/``set_offset``)."""
LAST_OFFSET: int = _weir.LAST_OFFSET
"""kafka-go's ``LastOffset``: the next record to be written."""

TopicPartition = Tuple[str, int]


@dataclass(frozen=True)
class PartitionLag:
    """One partition's lag: ``high_watermark - position``."""

    topic: str
    partition: int
    position: int
    """Next offset to be read (-1 if unknown)."""
    high_watermark: int
    lag: int


def _topics(topic: Optional[str], topics: Optional[Sequence[str]]) -> List[str]:
    if topic is not None and topics is not None:
        raise ConfigError("invalid configuration: give topic or topics, not both")
    if topics is not None:
        if isinstance(topics, str):
            raise ConfigError("invalid configuration: topics is a list of names; "
                              "use topic= for one")
        return list(topics)
    return [] if topic is None else [topic]


class Reader:
    """A consumer, in a group or on partitions directly.

    - ``Reader(brokers, topic, group_id="billing")``: the group's coordinator assigns
      partitions; ``read_message`` marks each message consumed and offsets are committed every
      ``commit_interval_ms`` and on ``close``. ``topics=[…]`` reads several (a name starting
      with ``^`` is a regular expression).
    - ``Reader(brokers, topic, partition=0)``: reads one partition (``partition=None``: all of
      them) with no group and no committed offsets; ``seek``/``set_offset`` move it.

    ``fetch_message`` + ``commit_messages`` commit by hand. Iterate with ``for msg in reader``
    (``read_message`` semantics; ends when the reader is closed). Use as a context manager to
    close it. A reader is meant for one thread at a time (``close`` may come from another).
    """

    FIRST_OFFSET = FIRST_OFFSET
    LAST_OFFSET = LAST_OFFSET

    def __init__(self, brokers: str, topic: Optional[str] = None, *,
                 topics: Optional[Sequence[str]] = None, group_id: Optional[str] = None,
                 partition: Optional[int] = None, start_offset: str = "earliest",
                 commit_interval_ms: int = 1000, max_wait_ms: int = 500, min_bytes: int = 1,
                 max_bytes: int = 1048576, session_timeout_ms: int = 45000,
                 read_committed: bool = True, client_id: Optional[str] = None,
                 extra: Optional[Mapping[str, Any]] = None) -> None:
        self._native = _weir.Reader(
            brokers, _topics(topic, topics), group_id=group_id, partition=partition,
            start_offset=start_offset, commit_interval_ms=commit_interval_ms,
            max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=max_bytes,
            session_timeout_ms=session_timeout_ms, read_committed=read_committed,
            client_id=client_id, extra=_extra(extra))

    @property
    def group_id(self) -> Optional[str]:
        return self._native.group_id

    @property
    def topics(self) -> List[str]:
        return self._native.topics

    @property
    def closed(self) -> bool:
        return self._native.closed

    def read_message(self, timeout: Optional[float] = None,
                     ctx: Optional[_weir.Context] = None) -> Message:
        """The next message; in a group its offset is committed within ``commit_interval_ms``.

        Waits up to ``timeout`` seconds (forever if None) or until ``ctx`` ends:
        :class:`weir.TimeoutError` / :class:`weir.CancelledError`.
        """
        return Message._from_native(self._native.read_message(timeout, ctx))

    def fetch_message(self, timeout: Optional[float] = None,
                      ctx: Optional[_weir.Context] = None) -> Message:
        """The next message, not marked consumed; commit it with :meth:`commit_messages`."""
        return Message._from_native(self._native.fetch_message(timeout, ctx))

    def commit_messages(self, *msgs: Union[Message, Iterable[Message]]) -> None:
        """Commits, per partition, the offset after the highest of ``msgs`` (synchronously).

        Needs a ``group_id``.
        """
        flat: List[Message] = []
        for m in msgs:
            flat.extend([m] if isinstance(m, Message) else m)
        coords = []
        for m in flat:
            if m.topic is None or m.partition is None:
                raise ConfigError("invalid configuration: commit_messages takes messages "
                                  "read from a reader (with topic and partition)")
            coords.append((m.topic, m.partition, m.offset))
        self._native.commit_messages(coords)

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Moves to ``offset`` (or ``FIRST_OFFSET``/``LAST_OFFSET``) on an assigned partition."""
        self._native.seek(topic, partition, offset)

    def set_offset(self, offset: int) -> None:
        """kafka-go's ``SetOffset``: seek the configured partition (or 0) of the topic."""
        self._native.set_offset(offset)

    def assignment(self) -> List[TopicPartition]:
        """The ``(topic, partition)`` pairs currently assigned to this reader."""
        return self._native.assignment()

    def lag(self) -> List[PartitionLag]:
        """Lag of each assigned partition."""
        return [PartitionLag(*t) for t in self._native.lag()]

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        """Stops fetching ``partitions`` (they stay assigned) until :meth:`resume`."""
        self._native.pause([(t, p) for t, p in partitions])

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        self._native.resume([(t, p) for t, p in partitions])

    def close(self) -> None:
        """Commits what ``read_message`` marked and leaves the group; reads blocked in other
        threads raise :class:`weir.ClosedError`. Idempotent."""
        self._native.close()

    def __iter__(self) -> Iterator[Message]:
        return self

    def __next__(self) -> Message:
        try:
            return self.read_message()
        except ClosedError:
            raise StopIteration from None

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<weir.Reader closed>"
        return f"<weir.Reader topics={self.topics!r} group_id={self.group_id!r}>"
