"""The synchronous :class:`Admin`: topics and groups over the Kafka protocol, plugins and
dead letters over Weir's HTTP admin API."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar, Union

from . import _weir
from .reader import PartitionLag
from .writer import _extra

__all__ = [
    "Admin", "TopicInfo", "PartitionInfo", "GroupInfo", "GroupMember", "PluginInfo",
    "PluginHealth", "PluginLogLine", "DeadLetter", "ReplayReport",
]

T = TypeVar("T")


def _build(cls: Type[T], d: Mapping[str, Any]) -> T:
    """``cls`` from a JSON object, ignoring keys the class does not know (newer brokers)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: List[int]
    isr: List[int]


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: List[PartitionInfo]
    configs: Dict[str, str]
    """Every config with its effective value (defaults included)."""


@dataclass(frozen=True)
class GroupMember:
    member_id: str
    client_id: str
    client_host: str
    assignment: List[Tuple[str, int]]
    """Partitions the member holds."""


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str
    """``Stable``, ``PreparingRebalance``, ``CompletingRebalance``, ``Empty`` or ``Dead``."""
    protocol_type: str
    protocol: str
    members: List[GroupMember]


@dataclass(frozen=True)
class PluginHealth:
    state: str = ""
    """``ok``, ``failing`` or ``failed``."""
    consecutive_failures: int = 0
    failures_total: int = 0
    last_error: Optional[str] = None


@dataclass(frozen=True)
class PluginInfo:
    name: str = ""
    version: str = ""
    sha256: str = ""
    size: int = 0
    config: Dict[str, str] = field(default_factory=dict)
    memory_bytes: int = 0
    timeout_ms: int = 0
    deployed_at_ms: int = 0
    health: Optional[PluginHealth] = None
    topics: List[str] = field(default_factory=list)
    """Topics whose produce path runs this plugin."""
    pipelines: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class PluginLogLine:
    timestamp_ms: int = 0
    level: str = ""
    message: str = ""


@dataclass(frozen=True)
class DeadLetter:
    """A record of a dead-letter topic with the reason it is there."""

    partition: int = 0
    offset: int = 0
    timestamp: int = 0
    key: Optional[str] = None
    value: Optional[str] = None
    headers: List[Tuple[str, Optional[str]]] = field(default_factory=list)
    reason: Optional[str] = None
    plugin: Optional[str] = None
    source_topic: Optional[str] = None
    source_partition: Optional[int] = None
    source_offset: Optional[int] = None


@dataclass(frozen=True)
class ReplayReport:
    replayed: int = 0
    appended: int = 0
    dead_lettered_again: int = 0
    rejected: int = 0
    routed: int = 0
    skipped: int = 0


def _topic(d: Mapping[str, Any]) -> TopicInfo:
    return TopicInfo(name=d["name"], partitions=[_build(PartitionInfo, p) for p in d["partitions"]],
                     configs=dict(d["configs"]))


def _group(d: Mapping[str, Any]) -> GroupInfo:
    members = [GroupMember(member_id=m["member_id"], client_id=m["client_id"],
                           client_host=m["client_host"],
                           assignment=[(t, p) for t, p in m["assignment"]])
               for m in d["members"]]
    return GroupInfo(group_id=d["group_id"], state=d["state"], protocol_type=d["protocol_type"],
                     protocol=d["protocol"], members=members)


def _plugin(d: Mapping[str, Any]) -> PluginInfo:
    d = dict(d)
    if d.get("health") is not None:
        d["health"] = _build(PluginHealth, d["health"])
    return _build(PluginInfo, d)


def _dead_letter(d: Mapping[str, Any]) -> DeadLetter:
    d = dict(d)
    d["headers"] = [(k, v) for k, v in d.get("headers", [])]
    return _build(DeadLetter, d)


def _reset(to: Union[str, int, Mapping[str, int]]) -> Tuple[str, int]:
    if isinstance(to, str):
        return to, 0
    if isinstance(to, bool):
        raise TypeError("to must be 'earliest', 'latest', an offset or {'timestamp': ms}")
    if isinstance(to, int):
        return "offset", to
    if isinstance(to, Mapping) and set(to) == {"timestamp"}:
        return "timestamp", int(to["timestamp"])
    raise TypeError("to must be 'earliest', 'latest', an offset or {'timestamp': ms}")


def _wasm_bytes(wasm: Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]) -> bytes:
    if isinstance(wasm, (bytes, bytearray, memoryview)):
        return bytes(wasm)
    with open(os.fspath(wasm), "rb") as f:
        return f.read()


class Admin:
    """Cluster administration: topics, consumer groups, and Weir's plugins and dead letters.

    ``admin_url`` is Weir's HTTP API (default: the first broker's host on port 9644), used
    for plugins, dead letters and incremental topic configs. ``timeout_ms`` bounds each
    request. Thread-safe.
    """

    def __init__(self, brokers: str, admin_url: Optional[str] = None, *,
                 timeout_ms: int = 30000, client_id: Optional[str] = None,
                 extra: Optional[Mapping[str, Any]] = None) -> None:
        self._native = _weir.Admin(brokers, admin_url=admin_url, timeout_ms=timeout_ms,
                                   client_id=client_id, extra=_extra(extra))

    @property
    def admin_url(self) -> str:
        """The HTTP admin API this client talks to."""
        return self._native.admin_url

    # ---- topics ----

    def create_topic(self, name: str, partitions: int = 1, replication_factor: int = -1,
                     configs: Optional[Mapping[str, Any]] = None) -> None:
        """Creates a topic; :class:`weir.WeirError` with code ``TOPIC_ALREADY_EXISTS`` if it
        exists. ``replication_factor=-1`` takes the broker's default."""
        cfg = None if configs is None else {str(k): str(v) for k, v in configs.items()}
        self._native.create_topic(name, partitions, replication_factor, cfg)

    def delete_topic(self, name: str) -> None:
        self._native.delete_topic(name)

    def create_partitions(self, name: str, total: int) -> None:
        """Grows ``name`` to ``total`` partitions."""
        self._native.create_partitions(name, total)

    def list_topics(self) -> List[str]:
        """Topic names, sorted, internal (``__``) topics left out."""
        return self._native.list_topics()

    def describe_topic(self, name: str) -> TopicInfo:
        """Partitions (leader, replicas, ISR) and every config; :class:`weir.UnknownTopicError`
        if there is no such topic."""
        return _topic(json.loads(self._native.describe_topic(name)))

    def alter_topic_configs(self, name: str, set: Optional[Mapping[str, Any]] = None,
                            delete: Optional[Iterable[str]] = None) -> None:
        """Sets and deletes config overrides incrementally (other overrides stay)."""
        s = None if set is None else {str(k): str(v) for k, v in set.items()}
        self._native.alter_topic_configs(name, s, None if delete is None else list(delete))

    # ---- groups ----

    def list_groups(self) -> List[GroupInfo]:
        return [_group(g) for g in json.loads(self._native.list_groups())]

    def describe_group(self, group: str) -> GroupInfo:
        """One group with its members' assignments; unknown groups come back ``Dead``."""
        return _group(json.loads(self._native.describe_group(group)))

    def group_lag(self, group: str) -> List[PartitionLag]:
        """Committed offset and lag of every partition the group has committed."""
        return [_build(PartitionLag, d) for d in json.loads(self._native.group_lag(group))]

    def reset_offsets(self, group: str, topic: str,
                      to: Union[str, int, Mapping[str, int]] = "earliest") -> Dict[int, int]:
        """Moves ``group``'s committed offsets on every partition of ``topic`` to
        ``"earliest"``, ``"latest"``, an offset (clamped) or ``{"timestamp": ms}``. The group
        must have no live members (:class:`weir.GroupNotEmptyError`). Returns
        ``{partition: new offset}``."""
        kind, value = _reset(to)
        return dict(self._native.reset_offsets(group, topic, kind, value))

    def delete_group(self, group: str) -> None:
        self._native.delete_group(group)

    # ---- plugins ----

    def deploy_plugin(self, name: str,
                      wasm: Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"],
                      version: str = "1", memory_mb: Optional[int] = None,
                      timeout_ms: Optional[int] = None,
                      config: Optional[Mapping[str, Any]] = None) -> PluginInfo:
        """Deploys (or upgrades) plugin ``name`` from a WebAssembly component (bytes or a
        path); the broker compiles and checks it before accepting it."""
        cfg = None if config is None else {str(k): str(v) for k, v in config.items()}
        return _plugin(json.loads(self._native.deploy_plugin(
            name, _wasm_bytes(wasm), version, memory_mb, timeout_ms, cfg)))

    def list_plugins(self) -> List[PluginInfo]:
        return [_plugin(p) for p in json.loads(self._native.list_plugins())]

    def describe_plugin(self, name: str) -> PluginInfo:
        return _plugin(json.loads(self._native.describe_plugin(name)))

    def remove_plugin(self, name: str) -> None:
        """Removes a plugin; refused (:class:`weir.ApiError`) while a topic uses it."""
        self._native.remove_plugin(name)

    def plugin_logs(self, name: str, limit: int = 100) -> List[PluginLogLine]:
        return [_build(PluginLogLine, d) for d in json.loads(self._native.plugin_logs(name, limit))]

    def set_topic_plugins(self, topic: str, names: Iterable[str]) -> None:
        """Sets the chain of plugins on ``topic``'s produce path; ``[]`` detaches them all."""
        if isinstance(names, str):
            names = [names]
        self._native.set_topic_plugins(topic, list(names))

    # ---- dead letters ----

    def inspect_dead_letters(self, topic: str, offset: int = 0,
                             limit: int = 100) -> List[DeadLetter]:
        """Dead letters of the dead-letter topic ``topic`` (e.g. ``orders.dlq``)."""
        return [_dead_letter(d)
                for d in json.loads(self._native.inspect_dead_letters(topic, offset, limit))]

    def replay_dead_letters(self, topic: str, to: Optional[str] = None,
                            from_offset: Optional[int] = None) -> ReplayReport:
        """Sends dead letters back through their source topic's current plugins (or to
        ``to``), from where the last replay stopped (or ``from_offset``)."""
        return _build(ReplayReport, json.loads(
            self._native.replay_dead_letters(topic, to, from_offset)))

    def close(self) -> None:
        """Nothing to release beyond what garbage collection does; for symmetry and ``with``."""

    def __enter__(self) -> "Admin":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<weir.Admin admin_url={self.admin_url!r}>"
