"""Exceptions raised by the Weir SDK.

Every error is a :class:`WeirError`; catch a subclass when you act on it::

    try:
        writer.write(b"hello")
    except weir.RejectedError as e:      # a plugin on the topic refused the record
        log.warning("rejected on %s: %s", e.topic, e.reason)
    except weir.WeirError as e:
        if e.retriable:
            ...

Each carries ``code`` (the Kafka error name, e.g. ``"UNKNOWN_TOPIC_OR_PARTITION"``, where there
is one) and ``retriable`` (retrying the same call later may succeed).
"""

from __future__ import annotations

import builtins
from typing import Any, List, Optional, Tuple

__all__ = [
    "WeirError",
    "ConfigError",
    "UnknownTopicError",
    "UnknownPartitionError",
    "NotAuthorizedError",
    "RejectedError",
    "RecordTooLargeError",
    "UnreachableError",
    "TimeoutError",
    "CancelledError",
    "GroupNotEmptyError",
    "WriteError",
    "PayloadError",
    "ApiError",
    "ClosedError",
]


class WeirError(Exception):
    """Base class of every SDK error; the message says what to do next."""

    code: Optional[str]
    """Kafka error name (``"INVALID_RECORD"``, ``"UNKNOWN_TOPIC_OR_PARTITION"``…) or None."""
    retriable: bool
    """True when retrying the same call later may succeed."""

    def __init__(self, message: str = "", *, code: Optional[str] = None,
                 retriable: bool = False, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retriable = retriable
        for k, v in fields.items():
            setattr(self, k, v)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(WeirError, ValueError):
    """The configuration cannot work (bad broker list, unknown option, missing topic)."""


class UnknownTopicError(WeirError):
    """The topic does not exist and the broker does not create it on first use."""

    topic: str = ""


class UnknownPartitionError(UnknownTopicError):
    """The partition does not exist on the topic."""

    partition: int = -1


class NotAuthorizedError(WeirError):
    """The broker refused the request for lack of rights."""


class RejectedError(WeirError):
    """A WebAssembly plugin on the topic rejected the record; ``reason`` is the plugin's."""

    topic: str = ""
    reason: str = ""


class RecordTooLargeError(WeirError):
    """The record is larger than the topic's ``max.message.bytes``."""

    topic: str = ""


class UnreachableError(WeirError):
    """No broker answered."""


class TimeoutError(WeirError, builtins.TimeoutError):  # noqa: A001 - deliberate, like asyncio's
    """The call's deadline (``timeout=`` or the Context's) passed. Also a builtin TimeoutError."""

    def __init__(self, message: str = "", **kw: Any) -> None:
        WeirError.__init__(self, message, **kw)
        self.args = (message,)


class CancelledError(WeirError):
    """The call's :class:`weir.Context` was cancelled."""


class GroupNotEmptyError(WeirError):
    """The group has live members, so its offsets cannot be reset or the group deleted."""

    group: str = ""


class WriteError(WeirError):
    """Some messages of a ``write_messages`` call failed; the others were written.

    ``failed`` lists ``(index, error)`` for each failed message, index in the call's order.
    """

    total: int = 0
    failed: List[Tuple[int, WeirError]] = []


class PayloadError(WeirError, ValueError):
    """A payload did not (de)serialize."""


class ApiError(WeirError):
    """Weir's HTTP admin API refused the request; ``status`` is the HTTP status."""

    status: int = 0
    detail: str = ""


class ClosedError(WeirError):
    """The reader or writer has been closed."""
