"""Weir's Python SDK: a kafka-go style :class:`Writer` and :class:`Reader`, an :class:`Admin`
for topics, groups, plugins and dead letters, and an asyncio API in :mod:`weir.aio`.

Built on Weir's Rust SDK (``weir-sdk``, librdkafka underneath), so it speaks to any
Kafka-compatible broker; plugins and dead letters need Weir.

Quick start::

    import weir

    with weir.Writer("localhost:9092", topic="orders") as w:
        d = w.write(b"hello", key="user-1", headers=[("source", "web")])
        print(d.partition, d.offset)

    with weir.Reader("localhost:9092", "orders", group_id="billing") as r:
        msg = r.read_message(timeout=10)
        print(msg.key, msg.value, msg.headers)
"""

from . import aio, errors
from ._weir import Context, __version__
from .admin import (
    Admin,
    DeadLetter,
    GroupInfo,
    GroupMember,
    PartitionInfo,
    PluginHealth,
    PluginInfo,
    PluginLogLine,
    ReplayReport,
    TopicInfo,
)
from .errors import (
    ApiError,
    CancelledError,
    ClosedError,
    ConfigError,
    GroupNotEmptyError,
    NotAuthorizedError,
    PayloadError,
    RecordTooLargeError,
    RejectedError,
    TimeoutError,
    UnknownPartitionError,
    UnknownTopicError,
    UnreachableError,
    WeirError,
    WriteError,
)
from .message import Delivery, Message
from .reader import FIRST_OFFSET, LAST_OFFSET, PartitionLag, Reader
from .writer import Writer

__all__ = [
    "Admin", "ApiError", "CancelledError", "ClosedError", "ConfigError", "Context",
    "DeadLetter", "Delivery", "FIRST_OFFSET", "GroupInfo", "GroupMember",
    "GroupNotEmptyError", "LAST_OFFSET", "Message", "NotAuthorizedError", "PartitionInfo",
    "PartitionLag", "PayloadError", "PluginHealth", "PluginInfo", "PluginLogLine", "Reader",
    "RecordTooLargeError", "RejectedError", "ReplayReport", "TimeoutError", "TopicInfo",
    "UnknownPartitionError", "UnknownTopicError", "UnreachableError", "WeirError", "Writer",
    "WriteError", "__version__", "aio", "errors",
]
