"""The synchronous :class:`Writer` (kafka-go's ``Writer``)."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple, Union

from . import _weir
from .message import Bytesish, Delivery, Headers, Message

__all__ = ["Writer"]

MessageLike = Union[Message, bytes, str]


def _extra(extra: Optional[Mapping[str, Any]]) -> Optional[List[Tuple[str, str]]]:
    return None if extra is None else [(str(k), str(v)) for k, v in extra.items()]


def _as_message(m: MessageLike) -> Message:
    return m if isinstance(m, Message) else Message(value=m)


class Writer:
    """A producer: batches messages per partition and waits for acknowledgements.

    ``Writer(brokers, topic=…)`` then ``write(value, key=…)`` or ``write_messages(*msgs)``.
    Thread-safe; one writer per process is usually enough. Options are weir-sdk's
    ``WriterConfig`` fields:

    - ``balancer``: ``"hash"`` (murmur2 of the key, as Java) or ``"round_robin"``; a message's
      ``partition`` overrides it.
    - ``required_acks``: ``"all"`` (default), ``"leader"`` or ``"none"``.
    - ``compression``: ``"none"``, ``"gzip"``, ``"snappy"``, ``"lz4"``, ``"zstd"``.
    - ``batch_size`` / ``batch_bytes`` / ``batch_timeout_ms``: librdkafka batching.
    - ``idempotent``: exactly-once per partition on retries (needs ``required_acks="all"``).
    - ``write_timeout_ms``: how long a message may take, retries included.
    - ``admin_url``: Weir's HTTP API, used to fetch a plugin's rejection reason (default: the
      first broker's host, port 9644).
    - ``extra``: any other librdkafka property, e.g. ``{"topic.metadata.propagation.max.ms":
      3000}`` so a write to a topic the broker does not know fails with
      :class:`weir.UnknownTopicError` after 3 s instead of timing out after 30 s.

    Raises :class:`weir.ConfigError` for options that cannot work.
    """

    def __init__(self, brokers: str, topic: Optional[str] = None, *, balancer: str = "hash",
                 required_acks: str = "all", compression: str = "none",
                 batch_size: int = 10000, batch_bytes: int = 1048576,
                 batch_timeout_ms: int = 5, idempotent: bool = True,
                 write_timeout_ms: int = 30000, client_id: Optional[str] = None,
                 admin_url: Optional[str] = None,
                 extra: Optional[Mapping[str, Any]] = None) -> None:
        self._native = _weir.Writer(
            brokers, topic=topic, balancer=balancer, required_acks=required_acks,
            compression=compression, batch_size=batch_size, batch_bytes=batch_bytes,
            batch_timeout_ms=batch_timeout_ms, idempotent=idempotent,
            write_timeout_ms=write_timeout_ms, client_id=client_id, admin_url=admin_url,
            extra=_extra(extra))

    @property
    def topic(self) -> Optional[str]:
        """The topic of messages that name none."""
        return self._native.topic

    @property
    def closed(self) -> bool:
        return self._native.closed

    def write_messages(self, *msgs: MessageLike, timeout: Optional[float] = None,
                       ctx: Optional[_weir.Context] = None) -> List[Delivery]:
        """Writes ``msgs`` and waits until every one is acknowledged.

        Returns one :class:`Delivery` per message, in order. If some fail, the others are still
        written and :class:`weir.WriteError` lists the failed ones (a single message raises its
        own error, e.g. :class:`weir.RejectedError`). ``timeout`` (seconds) or ``ctx`` bound the
        wait (:class:`weir.TimeoutError`, :class:`weir.CancelledError`).
        """
        if len(msgs) == 1 and isinstance(msgs[0], (list, tuple)):
            msgs = tuple(msgs[0])
        native = [_as_message(m)._native() for m in msgs]
        return [Delivery(*d) for d in self._native.write_messages(native, timeout, ctx)]

    def write(self, value: Optional[Bytesish], key: Optional[Bytesish] = None,
              headers: Optional[Headers] = None, partition: Optional[int] = None,
              topic: Optional[str] = None, timestamp_ms: Optional[int] = None, *,
              timeout: Optional[float] = None,
              ctx: Optional[_weir.Context] = None) -> Delivery:
        """Writes one message and waits for it; returns where it landed."""
        m = Message(value=value, key=key, headers=headers, topic=topic, partition=partition,
                    timestamp_ms=timestamp_ms)
        return self.write_messages(m, timeout=timeout, ctx=ctx)[0]

    def flush(self, timeout: float = 30.0) -> None:
        """Waits until everything queued is sent, up to ``timeout`` seconds."""
        self._native.flush(timeout)

    def close(self) -> None:
        """Flushes and releases the writer; later writes raise :class:`weir.ClosedError`."""
        self._native.close()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"topic={self.topic!r}"
        return f"<weir.Writer {state}>"
