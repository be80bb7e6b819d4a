"""Messages as the SDK writes and reads them, and where written ones landed."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, List, Mapping, Optional, Tuple, Union

if TYPE_CHECKING:
    from . import _weir

__all__ = ["Message", "Delivery", "Bytesish", "Headers"]

Bytesish = Union[bytes, bytearray, memoryview, str]
"""What a key, value or header value may be given as; ``str`` is encoded as UTF-8."""

Headers = Union[Mapping[str, Optional[Bytesish]], Iterable[Tuple[str, Optional[Bytesish]]]]
"""Headers as a list of ``(name, value)`` pairs (repeated names kept, in order) or a dict."""


def to_bytes(v: Optional[Bytesish], what: str = "value") -> Optional[bytes]:
    """``bytes`` or None from bytes-like or str input (UTF-8)."""
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"{what} must be bytes, str or None, not {type(v).__name__}")


def to_headers(h: Optional[Headers]) -> List[Tuple[str, Optional[bytes]]]:
    """Normalises headers to a list of ``(str, bytes | None)``, order and repeats kept."""
    if h is None:
        return []
    items = h.items() if isinstance(h, Mapping) else h
    out = []
    for item in items:
        try:
            k, v = item
        except (TypeError, ValueError):
            raise TypeError(f"a header must be a (name, value) pair, not {item!r}") from None
        if not isinstance(k, str):
            raise TypeError(f"a header name must be str, not {type(k).__name__}")
        out.append((k, to_bytes(v, f"header {k!r}")))
    return out


@dataclass(init=False)
class Message:
    """One record.

    To write, set ``value`` (and optionally ``key``, ``headers``, ``topic``, ``partition``,
    ``timestamp_ms``); ``str`` inputs are encoded as UTF-8. Messages read from a
    :class:`weir.Reader` have every field filled, ``offset`` included.

    ``headers`` is a list of ``(name, value)`` pairs: Kafka allows repeated names and null
    values, and both are kept in order.
    """

    value: Optional[bytes]
    key: Optional[bytes]
    headers: List[Tuple[str, Optional[bytes]]]
    topic: Optional[str]
    partition: Optional[int]
    timestamp_ms: Optional[int]
    """Milliseconds since the Unix epoch; on writes None lets the client stamp it."""
    offset: int
    """-1 until read back."""

    def __init__(self, value: Optional[Bytesish] = None, key: Optional[Bytesish] = None,
                 headers: Optional[Headers] = None, topic: Optional[str] = None,
                 partition: Optional[int] = None, timestamp_ms: Optional[int] = None,
                 offset: int = -1) -> None:
        self.value = to_bytes(value)
        self.key = to_bytes(key, "key")
        self.headers = to_headers(headers)
        self.topic = topic
        self.partition = partition
        self.timestamp_ms = timestamp_ms
        self.offset = offset

    @classmethod
    def from_json(cls, obj: Any, key: Optional[Bytesish] = None,
                  headers: Optional[Headers] = None, **kw: Any) -> "Message":
        """A message whose value is ``obj`` as JSON, with ``content-type: application/json``
        (as ``weir_sdk::Message::json``)."""
        hs = to_headers(headers)
        if not any(k == "content-type" for k, _ in hs):
            hs.append(("content-type", b"application/json"))
        value = _json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(value=value, key=key, headers=hs, **kw)

    def json(self) -> Any:
        """The value decoded as JSON; :class:`weir.PayloadError` if it is null or not JSON."""
        from .errors import PayloadError

        if self.value is None:
            raise PayloadError("payload: the message has a null value")
        try:
            return _json.loads(self.value)
        except ValueError as e:
            raise PayloadError(f"payload: {e}") from e

    def header(self, name: str) -> Optional[bytes]:
        """The value of the last header called ``name`` (Kafka's "last one wins"), or None."""
        for k, v in reversed(self.headers):
            if k == name:
                return v
        return None

    def header_values(self, name: str) -> List[Optional[bytes]]:
        """Every value of the headers called ``name``, in order."""
        return [v for k, v in self.headers if k == name]

    def value_str(self) -> Optional[str]:
        """The value as UTF-8 text, or None if it is null or not UTF-8."""
        return _utf8(self.value)

    def key_str(self) -> Optional[str]:
        """The key as UTF-8 text, or None if it is null or not UTF-8."""
        return _utf8(self.key)

    def _native(self) -> "_weir._MessageIn":
        return (self.topic, self.partition, self.key, self.value, self.headers,
                self.timestamp_ms)

    @classmethod
    def _from_native(cls, t: "_weir._MessageOut") -> "Message":
        m = cls.__new__(cls)
        (m.topic, m.partition, m.offset, m.key, m.value, m.headers, m.timestamp_ms) = t
        return m


def _utf8(b: Optional[bytes]) -> Optional[str]:
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class Delivery:
    """Where a written message landed."""

    topic: str
    partition: int
    offset: int
