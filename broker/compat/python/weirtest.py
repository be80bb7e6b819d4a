"""Shared helpers for the Weir Python compatibility suite.

Starts/stops the Weir broker binary and wraps the common confluent-kafka
produce/consume/admin chores so every test file stays short and readable.
"""

import base64
import json
import logging
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

WEIR_BIN = os.environ.get("WEIR_BIN") or os.path.expanduser("~/.cache/weir/target/debug/weir")
READY_RE = re.compile(r"weir ready: kafka=(\S+) http=(\S+)")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

# librdkafka logs go through Python logging (pytest shows them for failing
# tests only) instead of spamming stderr with reconnect errors of leaked clients.
RDKAFKA_LOG = logging.getLogger("librdkafka")

# Brokers that are alive (or were started) during the current test; their
# stderr tail is attached to the pytest report when a test fails.
ACTIVE_BROKERS = []


class BrokerError(RuntimeError):
    pass


class Broker:
    """One Weir process (restartable on the same data dir and port)."""

    def __init__(self, data_dir, args=(), name="weir", log_dir=None):
        self.data_dir = str(data_dir)
        self.args = [str(a) for a in args]
        self.name = name
        log_dir = str(log_dir or os.path.dirname(self.data_dir.rstrip("/")))
        self.stderr_path = os.path.join(log_dir, f"{name}-{uuid.uuid4().hex[:6]}.stderr.log")
        self.proc = None
        self.bootstrap = None
        self.http = None
        self.port = None
        self.starts = 0
        self.http_auth = None

    # -- lifecycle -------------------------------------------------------
    def start(self, same_port=False):
        if not os.path.exists(WEIR_BIN):
            raise BrokerError(
                f"weir binary not found at {WEIR_BIN}: build the broker and set WEIR_BIN")
        os.makedirs(self.data_dir, exist_ok=True)
        listen = f"127.0.0.1:{self.port}" if (same_port and self.port) else "127.0.0.1:0"
        # A just-freed port can be briefly unavailable; retry a few times
        # (only relevant for restarts on a fixed port).
        attempts = 10 if same_port else 1
        last_err = None
        for attempt in range(attempts):
            try:
                self._start_once(listen)
                if same_port:
                    got = int(self.bootstrap.rsplit(":", 1)[1])
                    if got != self.port:
                        raise BrokerError(f"asked for port {self.port}, broker bound {got}")
                if self not in ACTIVE_BROKERS:
                    ACTIVE_BROKERS.append(self)
                return self
            except BrokerError as e:
                last_err = e
                if attempt + 1 < attempts:
                    time.sleep(0.5)
        raise last_err

    def _start_once(self, listen):
        cmd = [WEIR_BIN, "serve", "--listen", listen, "--http-listen", "127.0.0.1:0",
               "--data-dir", self.data_dir, *self.args]
        self.starts += 1
        with open(self.stderr_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
        log = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=log)
        finally:
            log.close()
        lines = queue.Queue()
        proc = self.proc

        def pump():
            # Keep draining stdout for the life of the process so it never blocks.
            for raw in proc.stdout:
                lines.put(raw.decode("utf-8", "replace"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise BrokerError(f"broker not ready within {READY_TIMEOUT_S}s\n{self.stderr_tail()}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                rc = proc.wait(timeout=10)
                raise BrokerError(f"broker exited (rc={rc}) before ready\n{self.stderr_tail()}")
            m = READY_RE.search(line)
            if m:
                self.bootstrap, self.http = m.group(1), m.group(2)
                self.port = int(self.bootstrap.rsplit(":", 1)[1])
                return

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; returns the exit code (SIGKILLs after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise BrokerError(f"broker did not exit within {timeout}s of SIGTERM")
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def dispose(self):
        try:
            self.stop()
        except BrokerError:
            pass
        if self in ACTIVE_BROKERS:
            ACTIVE_BROKERS.remove(self)

    def stderr_tail(self, n=80):
        try:
            with open(self.stderr_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no stderr)"
        return ANSI_RE.sub("", "\n".join(data[-n:]))


# ---------------------------------------------------------------------------
# generic helpers

def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(fn, timeout=20.0, interval=0.2, desc="condition"):
    """Poll fn() until it returns a truthy value; fail clearly on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {desc} (last value: {last!r})")


# ---------------------------------------------------------------------------
# confluent-kafka helpers

def producer(bootstrap, **cfg):
    conf = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": False,
        "linger.ms": 5,
        "message.timeout.ms": 30000,
        "socket.timeout.ms": 10000,
        "logger": RDKAFKA_LOG,
    }
    conf.update(cfg)
    return Producer(conf)


def consumer(bootstrap, **cfg):
    # confluent-kafka insists on a group.id even for assign()-only consumers;
    # we never subscribe or commit, so no group APIs are needed.
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "weir-compat-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 200,
        "socket.timeout.ms": 10000,
        "logger": RDKAFKA_LOG,
    }
    conf.update(cfg)
    return Consumer(conf)


def admin(bootstrap, **cfg):
    conf = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, "logger": RDKAFKA_LOG}
    conf.update(cfg)
    return AdminClient(conf)


def produce_sync(prod, topic, records, timeout=30.0):
    """Produce records (dicts: value, key, headers, partition, timestamp) and
    wait for every delivery report. Returns a list of (err, msg) in input order."""
    results = [None] * len(records)

    def cb_for(i):
        def cb(err, msg):
            results[i] = (err, msg)
        return cb

    for i, r in enumerate(records):
        kwargs = {"value": r.get("value"), "key": r.get("key"), "on_delivery": cb_for(i)}
        if r.get("headers") is not None:
            kwargs["headers"] = r["headers"]
        if r.get("partition") is not None:
            kwargs["partition"] = r["partition"]
        if r.get("timestamp") is not None:
            kwargs["timestamp"] = r["timestamp"]
        while True:
            try:
                prod.produce(topic, **kwargs)
                break
            except BufferError:
                prod.poll(0.1)
        prod.poll(0)
    remaining = prod.flush(timeout)
    assert remaining == 0, f"{remaining} messages still undelivered after {timeout}s"
    missing = [i for i, r in enumerate(results) if r is None]
    assert not missing, f"no delivery report for records {missing[:10]}"
    return results


def assert_delivered(results):
    errs = [(i, err) for i, (err, _m) in enumerate(results) if err is not None]
    assert not errs, f"delivery errors: {errs[:5]}"
    return [m for _e, m in results]


def create_topic(bootstrap, name, partitions=1, config=None, timeout=20.0):
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                   config=config or {})], request_timeout=timeout)
    fs[name].result(timeout=timeout)
    wait_for_topic(bootstrap, name, partitions, admin_client=a)
    return name


def wait_for_topic(bootstrap, name, partitions, admin_client=None, timeout=20.0):
    a = admin_client or admin(bootstrap)

    def ready():
        md = a.list_topics(timeout=10)
        t = md.topics.get(name)
        if t is None or t.error is not None or len(t.partitions) != partitions:
            return False
        return all(p.leader >= 0 for p in t.partitions.values())

    wait_until(ready, timeout=timeout, desc=f"topic {name} with {partitions} partitions")


def consume_partition(bootstrap, topic, partition, start=OFFSET_BEGINNING, expected=None,
                      timeout=30.0, **cfg):
    """Read one partition with assign(). Stops at end of partition (EOF) once
    `expected` messages (if given) were seen. Returns the list of messages."""
    c = consumer(bootstrap, **cfg)
    msgs = []
    try:
        c.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if expected is None or len(msgs) >= expected:
                        return msgs
                    continue
                if m.topic() in (None, "") or m.topic() != topic:
                    # group/coordinator noise from librdkafka (no group APIs on Weir)
                    continue
                raise KafkaException(err)
            msgs.append(m)
            if expected is not None and len(msgs) > expected:
                break
        if expected is not None and len(msgs) == expected:
            return msgs
        raise AssertionError(
            f"consume {topic}[{partition}] from {start}: got {len(msgs)} messages, "
            f"expected {expected if expected is not None else 'EOF'} within {timeout}s")
    finally:
        c.close()


def watermarks(bootstrap, topic, partition, timeout=10.0):
    c = consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout,
                                       cached=False)
    finally:
        c.close()


def norm_headers(h):
    return [] if h is None else [(k, v) for k, v in h]


# ---------------------------------------------------------------------------
# WebAssembly plugins (HTTP admin API under /v1)

# Where scripts/build-plugins.sh puts the components (<name>.wasm).
PLUGINS_DIR = os.environ.get("WEIR_PLUGINS_DIR") or os.path.expanduser("~/.cache/weir/plugins")


def plugin_wasm(name):
    """The bytes of the built plugin component `name` (fails clearly when it was not built)."""
    path = os.path.join(PLUGINS_DIR, f"{name}.wasm")
    if not os.path.exists(path):
        raise AssertionError(f"plugin component {path} is missing: run "
                             f"scripts/build-plugins.sh {name} (run.sh does it)")
    with open(path, "rb") as f:
        return f.read()


def http_json(b, method, path, body=None, timeout=120.0):
    """One request to the broker's HTTP API. Returns (status, parsed JSON or None)."""
    req = urllib.request.Request(f"http://{b.http}{path}", data=body, method=method)
    if b.http_auth is not None:
        # (user, password) of a broker whose SASL listener makes its HTTP API want one.
        token = base64.b64encode(":".join(b.http_auth).encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, (json.loads(raw) if raw else None)


def deploy_plugin(b, name, wasm_name=None, version="1.0.0", config=None, **params):
    """PUT /v1/plugins/<name> with the component <wasm_name or name>.wasm; `params` are query
    parameters (timeout_ms, memory_mb), `config` the plugin's deploy-time config."""
    query = [("version", version)] + [(k, str(v)) for k, v in params.items()]
    query += [(f"config.{k}", v) for k, v in (config or {}).items()]
    status, meta = http_json(b, "PUT", f"/v1/plugins/{urllib.parse.quote(name)}?"
                             + urllib.parse.urlencode(query), plugin_wasm(wasm_name or name))
    assert status == 201, f"deploying plugin {name}: HTTP {status} {meta}"
    return meta


def plugin_info(b, name):
    status, info = http_json(b, "GET", f"/v1/plugins/{urllib.parse.quote(name)}")
    assert status == 200, f"GET /v1/plugins/{name}: HTTP {status} {info}"
    return info


def config_entries(describe_responses, topic):
    """Flatten kafka-python or aiokafka DescribeConfigs responses into {name: value}."""
    out = {}
    for resp in describe_responses:
        for res in resp.resources:
            error_code, _msg, _rtype, rname, entries = res[:5]
            if rname != topic:
                continue
            assert error_code == 0, f"DescribeConfigs error {error_code} for {topic}"
            for e in entries:
                out[e[0]] = e[1]
    return out
