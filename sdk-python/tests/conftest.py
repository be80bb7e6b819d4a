"""Real Weir brokers for the SDK tests.

`broker` is one Weir process shared by the session (every test uses its own topic and group
names); `strict_broker` is a second one with topic auto-creation off, for unknown-topic errors.
Both are `weir serve --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --data-dir <tmp>`, ready
when the broker prints `weir ready: kafka=HOST:PORT http=HOST:PORT` (on stdout; its logs go
to stderr, and both are kept for failure reports).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable, List, Optional, TypeVar

import pytest

import weir

WEIR_BIN = os.environ.get("WEIR_BIN") or os.path.expanduser("~/.cache/weir/target/debug/weir")
PLUGINS_DIR = os.environ.get("WEIR_PLUGINS_DIR") or os.path.expanduser("~/.cache/weir/plugins")
READY = re.compile(r"weir ready: kafka=(\S+) http=(\S+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

T = TypeVar("T")


@dataclass
class Broker:
    proc: subprocess.Popen
    kafka: str
    http: str
    log: List[str]

    @property
    def admin_url(self) -> str:
        return f"http://{self.http}"

    def admin(self) -> weir.Admin:
        return weir.Admin(self.kafka, admin_url=self.admin_url, timeout_ms=20000)

    def writer(self, topic: Optional[str] = None, **kw) -> weir.Writer:
        return weir.Writer(self.kafka, topic, admin_url=self.admin_url, **kw)

    def reader(self, topic: Optional[str] = None, **kw) -> weir.Reader:
        kw.setdefault("max_wait_ms", 100)
        return weir.Reader(self.kafka, topic, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_broker(data_dir: str, *args: str) -> Broker:
    if not os.path.exists(WEIR_BIN):
        pytest.fail(f"weir binary not found at {WEIR_BIN}: `cargo build -p weir` or set WEIR_BIN")
    cmd = [WEIR_BIN, "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
           "--data-dir", data_dir, *args]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    log: List[str] = []
    ready = threading.Event()
    found = {}

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = ANSI.sub("", line)
            log.append(line)
            del log[:-200]
            m = READY.search(line)
            if m and not ready.is_set():
                found["kafka"], found["http"] = m.group(1), m.group(2)
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(30) or "kafka" not in found:
        proc.kill()
        pytest.fail("broker not ready within 30 s:\n" + "".join(log[-40:]))
    return Broker(proc, found["kafka"], found["http"], log)


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Broker:
    b = start_broker(str(tmp_path_factory.mktemp("weir-data")))
    yield b
    b.stop()


@pytest.fixture(scope="session")
def strict_broker(tmp_path_factory) -> Broker:
    """A broker that does not create topics on first use."""
    b = start_broker(str(tmp_path_factory.mktemp("weir-strict")), "--auto-create-topics",
                     "false")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def admin(broker) -> weir.Admin:
    return broker.admin()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(fn: Callable[[], T], timeout: float = 20.0, interval: float = 0.1,
               desc: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {desc} (last: {last!r})")


def new_topic(admin: weir.Admin, prefix: str, partitions: int = 1, **configs) -> str:
    name = unique(prefix)
    admin.create_topic(name, partitions=partitions,
                       configs={k.replace("_", "."): v for k, v in configs.items()} or None)
    wait_until(lambda: len(admin.describe_topic(name).partitions) == partitions,
               desc=f"topic {name}")
    return name


def read_n(reader: weir.Reader, n: int, timeout: float = 30.0, fetch: bool = False):
    """Exactly `n` messages (read_message, or fetch_message if `fetch`) within `timeout`."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"read {len(out)} of {n} messages within {timeout}s")
        try:
            m = (reader.fetch_message if fetch else reader.read_message)(timeout=min(left, 1.0))
        except weir.TimeoutError:
            continue
        out.append(m)
    return out


def drain(reader: weir.Reader, quiet: float = 1.5):
    """Every message until none arrives for `quiet` seconds."""
    out = []
    while True:
        try:
            out.append(reader.read_message(timeout=quiet))
        except weir.TimeoutError:
            return out


def plugin_path(name: str) -> str:
    path = os.path.join(PLUGINS_DIR, f"{name}.wasm")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run scripts/build-plugins.sh (run-tests.sh does)")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for name in ("broker", "strict_broker"):
            b = item.funcargs.get(name)
            if isinstance(b, Broker):
                rep.sections.append((f"{name} stderr (tail)", "".join(b.log[-60:])))
