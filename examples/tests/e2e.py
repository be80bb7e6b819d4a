#!/usr/bin/env python3
"""End-to-end tests of the example services (stdlib only).

Starts a real Weir broker on ephemeral ports, then for each pairing of a producer language
with a consumer language starts both services on free ports, POSTs to the producer and reads
the messages back from the consumer over HTTP. Also checks a plugin rejection (422 with the
plugin's reason) for each producer, and /health going 503 when the broker stops.

    e2e.py --producers rust,python,node --consumers rust,python,node [--jobs 3]

Environment: WEIR_BIN (broker binary), RUST_BIN_DIR (where producer-service and
consumer-service are), PYTHON (interpreter with the `weir` package), NODE (node binary),
WEIR_REJECTER (rejecter.wasm).
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)
CACHE = os.path.expanduser("~/.cache/weir")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(CACHE, "target")
WEIR_BIN = os.environ.get("WEIR_BIN") or os.path.join(TARGET, "debug", "weir")
RUST_BIN_DIR = os.environ.get("RUST_BIN_DIR") or os.path.join(TARGET, "debug")
PYTHON = os.environ.get("PYTHON") or sys.executable
NODE = os.environ.get("NODE") or shutil.which("node") or "node"
REJECTER = os.environ.get("WEIR_REJECTER") or os.path.join(CACHE, "plugins", "rejecter.wasm")
READY_RE = re.compile(r"weir ready: kafka=(\S+) http=(\S+)")
PARTITIONS = 3
WORKERS = 5  # more than the partitions: the services must cap it at 3
LOG_DIR = tempfile.mkdtemp(prefix="weir-examples-e2e-")
PRINT_LOCK = threading.Lock()


def say(*a):
    with PRINT_LOCK:
        print(*a, flush=True)


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


# ---- HTTP ---------------------------------------------------------------------------------

def http(method, url, body=None, raw=None, timeout=30):
    """(status, parsed JSON or text) of one request; never raises on HTTP status codes."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(what, fn, timeout=30, interval=0.3):
    """Calls fn until it returns a truthy value; fails with the last value or error."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Failure as e:
            if "exited (rc=" in str(e):
                raise
            last = e
        except (OSError, urllib.error.URLError) as e:
            last = e
        time.sleep(interval)
    raise Failure(f"{what}: not within {timeout}s (last: {last!r})")


def metric(text, name):
    """Sum of the samples of `name` (any labels) in Prometheus text, or None if absent."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)", line)
        if m:
            total += float(m.group(2))
            seen = True
    return total if seen else None


# ---- processes ----------------------------------------------------------------------------

class Broker:
    def __init__(self, *args):
        self.args = list(args)
        self.data = tempfile.mkdtemp(prefix="data-", dir=LOG_DIR)
        self.log_path = os.path.join(LOG_DIR, f"broker-{os.path.basename(self.data)}.log")
        self.proc = None

    def start(self):
        if not os.path.exists(WEIR_BIN):
            raise SystemExit(f"weir binary not found at {WEIR_BIN}: build it (cargo build -p weir)")
        cmd = [WEIR_BIN, "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
               "--data-dir", self.data, "--num-partitions", str(PARTITIONS), *self.args]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"broker exited before ready; see {self.log_path}")
            log.write(line)
            m = READY_RE.search(line.decode("utf-8", "replace"))
            if m:
                self.kafka, self.http = m.group(1), "http://" + m.group(2)
                threading.Thread(target=self._drain, args=(log,), daemon=True).start()
                return self
        raise SystemExit("broker not ready within 30s")

    def _drain(self, log):
        for line in self.proc.stdout:
            log.write(line)
        log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def service_cmd(lang, role):
    if lang == "rust":
        return [os.path.join(RUST_BIN_DIR, f"{role}-service")]
    if lang == "python":
        return [PYTHON, os.path.join(EXAMPLES, "python", f"{role}_service.py")]
    if lang == "node":
        return [NODE, os.path.join(EXAMPLES, "node", f"{role}-service.js")]
    raise ValueError(lang)


class Service:
    def __init__(self, lang, role, broker, topic, group=None, workers=WORKERS):
        self.lang, self.role = lang, role
        self.name = f"{lang}-{role}"
        self.log_path = os.path.join(LOG_DIR, f"{self.name}-{topic}.log")
        self.env = dict(os.environ)
        self.env.update({
            "KAFKA_BROKERS": broker.kafka,
            "KAFKA_TOPIC": topic,
            "KAFKA_GROUP_ID": group or f"group-{topic}",
            "WORKER_COUNT": str(workers),
            "WEIR_ADMIN_URL": broker.http,
            "RUST_LOG": self.env.get("RUST_LOG", "info"),
            "PYTHONUNBUFFERED": "1",
        })
        self.log = open(self.log_path, "wb")
        self.spawns = 0
        self._spawn()

    def _spawn(self):
        self.spawns += 1
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env["PORT"] = str(self.port)
        self.log.write(f"===== start #{self.spawns} on port {self.port}\n".encode())
        self.log.flush()
        self.proc = subprocess.Popen(service_cmd(self.lang, self.role), env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_up(self, timeout=60):
        def up():
            if self.proc.poll() is not None:
                # The free port may have been taken between free_port() and the bind.
                tail = self.tail(10_000).rsplit("===== start #", 1)[-1]
                if self.spawns < 3 and re.search(r"in use|EADDRINUSE", tail, re.I):
                    self._spawn()
                    return False
                raise Failure(f"{self.name} exited (rc={self.proc.returncode}):\n{self.tail()}")
            try:
                status, _ = http("GET", self.url + "/health", timeout=5)
                return status in (200, 503)
            except (OSError, urllib.error.URLError):
                return False
        eventually(f"{self.name} answering", up, timeout=timeout)
        return self

    def get(self, path, **kw):
        return http("GET", self.url + path, **kw)

    def post(self, path, body=None, raw=None):
        return http("POST", self.url + path, body=body, raw=raw)

    def metrics(self):
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return r.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


# ---- scenarios ----------------------------------------------------------------------------

def check_delivery(d, topic, what):
    check(isinstance(d, dict) and d.get("topic") == topic, f"{what}: topic in {d!r}")
    check(isinstance(d.get("partition"), int) and 0 <= d["partition"] < PARTITIONS,
          f"{what}: partition in {d!r}")
    check(isinstance(d.get("offset"), int) and d["offset"] >= 0, f"{what}: offset in {d!r}")


def pairing(broker, p_lang, c_lang):
    """Producer in p_lang, consumer in c_lang, on a topic of their own."""
    tag = f"{p_lang}-{c_lang}"
    topic = f"e2e-{tag}"
    consumer = Service(c_lang, "consumer", broker, topic)
    producer = Service(p_lang, "producer", broker, topic)
    try:
        producer.wait_up()
        consumer.wait_up()
        s, h = producer.get("/health")
        check(s == 200 and h.get("status") == "ok" and h.get("broker") == "reachable",
              f"producer /health: {s} {h}")

        # single sends: a string with key and headers, a JSON value, explicit partition
        expected = {}  # value -> (key, headers, delivery)
        body = {"message": f"hello from {p_lang}", "key": "user-1",
                "headers": {"source": p_lang, "trace": tag}}
        s, d = producer.post("/send", body)
        check(s == 200, f"POST /send: {s} {d}")
        check_delivery(d, topic, "POST /send")
        expected[body["message"]] = ("user-1", body["headers"], d)

        s, d = producer.post("/send", {"value": {"n": 1, "ok": True}, "partition": 2})
        check(s == 200, f"POST /send json value: {s} {d}")
        check_delivery(d, topic, "POST /send json value")
        check(d["partition"] == 2, f"explicit partition honoured: {d}")
        check(s == 200, f"POST /send json value: {s} {d}")
        # the JSON value travels as its JSON text
        expected["json"] = (None, {}, d)

        # a batch with one invalid message
        batch = [{"value": f"batch-{i}-{tag}", "key": f"k{i}", "headers": {"i": str(i)}}
                 for i in range(3)]
        s, r = producer.post("/send-batch", {"messages": batch + [{"key": "no value"}]})
        check(s == 200 and isinstance(r, dict), f"POST /send-batch: {s} {r}")
        results = r.get("results")
        check(isinstance(results, list) and len(results) == 4, f"batch results: {r}")
        for i, (m, res) in enumerate(zip(batch, results)):
            check_delivery(res, topic, f"batch result {i}")
            expected[m["value"]] = (m["key"], m["headers"], res)
        check("error" in results[3] and "partition" not in results[3],
              f"invalid batch message gives an error: {results[3]}")

        # bad requests
        s, e = producer.post("/send", raw=b"{not json")
        check(s == 400 and isinstance(e, dict) and e.get("error"), f"bad JSON: {s} {e}")
        s, e = producer.post("/send", {"key": "k"})
        check(s == 400 and isinstance(e, dict) and e.get("error"), f"missing value: {s} {e}")
        s, e = producer.post("/send-batch", {"nope": []})
        check(s == 400 and isinstance(e, dict) and e.get("error"), f"batch without messages: {s} {e}")

        # read everything back from the consumer
        def all_consumed():
            s, page = consumer.get("/messages?limit=1000")
            check(s == 200, f"GET /messages: {s} {page}")
            got = {}
            for m in page["messages"]:
                v = m.get("value")
                if v and v.startswith("{"):
                    try:
                        if json.loads(v) == {"n": 1, "ok": True}:
                            got["json"] = m
                    except ValueError:
                        pass
                got[v] = m
            return got if all(k in got for k in expected) else None
        got = eventually(f"[{tag}] consumer receives all messages", all_consumed, timeout=45)
        for value, (key, headers, d) in expected.items():
            m = got[value]
            what = f"[{tag}] consumed {value!r}"
            check(m.get("topic") == topic, f"{what}: topic {m}")
            check(m.get("key") == key, f"{what}: key {m.get('key')!r} != {key!r}")
            check((m.get("partition"), m.get("offset")) == (d["partition"], d["offset"]),
                  f"{what}: at {m.get('partition')}:{m.get('offset')}, written at {d}")
            mh = m.get("headers") or {}
            for hk, hv in headers.items():
                check(mh.get(hk) == hv, f"{what}: header {hk}={mh.get(hk)!r}, want {hv!r}")
            check(isinstance(m.get("timestamp"), (int, float)) and m["timestamp"] > 1e12,
                  f"{what}: timestamp {m.get('timestamp')!r}")
        n = len(expected)

        # paging: newest first
        s, page = consumer.get("/messages?limit=2")
        check(s == 200 and len(page["messages"]) == 2 and page.get("total") == n,
              f"GET /messages?limit=2: {page}")
        s, page2 = consumer.get(f"/messages?limit=10&offset={n - 1}")
        check(s == 200 and len(page2["messages"]) == 1, f"GET /messages offset: {page2}")
        s, all_page = consumer.get("/messages?limit=1000")
        check(all_page["messages"][0] == page["messages"][0], "newest first")
        s, e = consumer.get("/messages?limit=abc")
        check(s == 400 and isinstance(e, dict) and "error" in e, f"bad limit: {s} {e}")
        s, latest = consumer.get("/messages/latest")
        check(s == 200 and latest == all_page["messages"][0], f"/messages/latest: {s} {latest}")

        # stats: count, offsets, lag drains to 0, workers capped at the partitions
        def stats_settled():
            s, st = consumer.get("/stats")
            check(s == 200, f"/stats: {s} {st}")
            return st if st.get("lag", {}).get("total") == 0 else None
        st = eventually(f"[{tag}] /stats lag reaches 0", stats_settled, timeout=20)
        check(st.get("count") == n, f"/stats count {st.get('count')} != {n}")
        check(isinstance(st.get("rate_per_sec"), (int, float)) and st["rate_per_sec"] > 0,
              f"/stats rate_per_sec: {st.get('rate_per_sec')}")
        check(isinstance(st.get("started_at"), str) and "T" in st["started_at"],
              f"/stats started_at: {st.get('started_at')}")
        check(isinstance(st["lag"].get("partitions"), dict), f"/stats lag partitions: {st}")
        for value, (_, _, d) in expected.items():
            lo = st.get("last_offset", {}).get(str(d["partition"]))
            check(isinstance(lo, int) and lo >= d["offset"],
                  f"/stats last_offset[{d['partition']}]={lo!r} < {d['offset']}")
        check(st.get("workers") == PARTITIONS,
              f"/stats workers {st.get('workers')} (WORKER_COUNT={WORKERS} capped at {PARTITIONS})")

        s, h = consumer.get("/health")
        check(s == 200 and h.get("status") == "ok", f"consumer /health: {s} {h}")

        # metrics
        pm = producer.metrics()
        sent = metric(pm, "producer_messages_sent_total")
        check(sent is not None and sent >= n, f"producer_messages_sent_total {sent} < {n}")
        failed = metric(pm, "producer_messages_failed_total")
        check(failed is not None and failed >= 1, f"producer_messages_failed_total {failed}")
        count = metric(pm, "producer_send_duration_seconds_count")
        check(count is not None and count >= n, f"producer_send_duration_seconds_count {count}")
        check(metric(pm, "producer_send_duration_seconds_bucket") is not None, "latency buckets")
        cm = consumer.metrics()
        consumed = metric(cm, "consumer_messages_consumed_total")
        check(consumed == n, f"consumer_messages_consumed_total {consumed} != {n}")
        check(metric(cm, "consumer_lag") == 0, f"consumer_lag {metric(cm, 'consumer_lag')}")

        # clearing the buffer
        s, r = http("DELETE", consumer.url + "/messages")
        check(s == 200 and r.get("cleared") == n, f"DELETE /messages: {s} {r}")
        s, page = consumer.get("/messages")
        check(s == 200 and page["messages"] == [] and page["total"] == 0, f"after DELETE: {page}")
        s, e = consumer.get("/messages/latest")
        check(s == 404 and isinstance(e, dict) and "error" in e, f"latest after DELETE: {s} {e}")
        s, st = consumer.get("/stats")
        check(st.get("count") == n, f"count survives DELETE: {st.get('count')}")
    except BaseException:
        say(f"--- {producer.name} log ---\n{producer.tail()}")
        say(f"--- {consumer.name} log ---\n{consumer.tail()}")
        raise
    finally:
        producer.stop()
        consumer.stop()


def deploy_rejecter(broker):
    with open(REJECTER, "rb") as f:
        wasm = f.read()
    req = urllib.request.Request(broker.http + "/v1/plugins/rejecter?version=1", data=wasm,
                                 method="PUT")
    req.add_header("content-type", "application/wasm")
    with urllib.request.urlopen(req, timeout=60) as r:
        check(r.status in (200, 201), f"deploy rejecter: {r.status}")


def rejection(broker, p_lang):
    """A plugin rejection through POST /send is a 422 carrying the plugin's reason."""
    topic = f"rejects-{p_lang}"
    producer = Service(p_lang, "producer", broker, topic)
    try:
        producer.wait_up()
        s, d = producer.post("/send", {"value": "fine"})  # auto-creates the topic
        check(s == 200, f"[{p_lang}] send before attaching: {s} {d}")
        s, r = http("PUT", f"{broker.http}/v1/topics/{topic}/configs",
                    {"set": {"weir.plugins": "rejecter"}})
        check(s in (200, 204), f"attach rejecter to {topic}: {s} {r}")
        s, e = producer.post("/send", {"value": "this is bad", "key": "k"})
        check(s == 422, f"[{p_lang}] rejected send: status {s} {e}")
        check(isinstance(e, dict) and 'contains forbidden word "bad"' in str(e.get("error")),
              f"[{p_lang}] the error carries the plugin's reason: {e}")
        s, d = producer.post("/send", {"value": "still fine"})
        check(s == 200, f"[{p_lang}] good record after a rejection: {s} {d}")
        s, r = producer.post("/send-batch", {"messages": [{"value": "bad one"}]})
        check(s == 200 and 'forbidden word' in str(r["results"][0].get("error")),
              f"[{p_lang}] batch rejection: {s} {r}")
        failed = metric(producer.metrics(), "producer_messages_failed_total")
        check(failed is not None and failed >= 2, f"[{p_lang}] failed counter {failed}")
    except BaseException:
        say(f"--- {producer.name} log ---\n{producer.tail()}")
        raise
    finally:
        producer.stop()


def unknown_topic(broker, p_lang):
    """With auto-creation off, a send to a missing topic is a 404 that says so."""
    producer = Service(p_lang, "producer", broker, "no-such-topic")
    try:
        producer.wait_up()
        s, e = producer.post("/send", {"value": "x"})
        check(s == 404 and "does not exist" in str(e.get("error")),
              f"[{p_lang}] send to a missing topic: {s} {e}")
    except BaseException:
        say(f"--- {producer.name} log ---\n{producer.tail()}")
        raise
    finally:
        producer.stop()


def broker_down(broker, langs):
    """Every service's /health turns 503 once the broker stops."""
    services = []
    for lang in langs:
        services.append(Service(lang, "producer", broker, "health-topic"))
        services.append(Service(lang, "consumer", broker, "health-topic"))
    try:
        for svc in services:
            svc.wait_up()
            eventually(f"{svc.name} healthy", lambda svc=svc: svc.get("/health")[0] == 200,
                       timeout=30)
        broker.stop()
        for svc in services:
            def down(svc=svc):
                s, h = svc.get("/health", timeout=20)
                return s == 503 and isinstance(h, dict) and h.get("error") and h
            eventually(f"{svc.name} /health 503 with the broker stopped", down, timeout=30)
    except BaseException:
        for svc in services:
            say(f"--- {svc.name} log ---\n{svc.tail()}")
        raise
    finally:
        for svc in services:
            svc.stop()


# ---- main ---------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--producers", default="rust,python,node")
    ap.add_argument("--consumers", default="rust,python,node")
    ap.add_argument("--jobs", type=int, default=3, help="pairings run at once")
    ap.add_argument("--skip-rejection", action="store_true")
    args = ap.parse_args()
    producers = [x for x in args.producers.split(",") if x]
    consumers = [x for x in args.consumers.split(",") if x]
    say(f"logs in {LOG_DIR}")

    broker = Broker().start()
    brokers = [broker]
    say(f"broker kafka={broker.kafka} http={broker.http}")
    results = []  # (name, error or None, seconds)

    def run(name, fn, *a):
        t0 = time.monotonic()
        try:
            fn(*a)
            err = None
        except Exception as e:  # noqa: BLE001 - reported below
            err = e if isinstance(e, Failure) else Failure(traceback.format_exc())
        dt = time.monotonic() - t0
        say(f"{'PASS' if err is None else 'FAIL'} {name} ({dt:.1f}s)" +
            (f"\n    {err}" if err else ""))
        results.append((name, err, dt))

    try:
        if not args.skip_rejection:
            deploy_rejecter(broker)
        jobs = [(f"pairing producer={p} consumer={c}", pairing, broker, p, c)
                for p in producers for c in consumers]
        if not args.skip_rejection:
            jobs += [(f"plugin rejection producer={p}", rejection, broker, p) for p in producers]
        strict = Broker("--auto-create-topics", "false").start()
        brokers.append(strict)
        jobs += [(f"unknown topic 404 producer={p}", unknown_topic, strict, p) for p in producers]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for f in [pool.submit(run, *j) for j in jobs]:
                f.result()
        langs = sorted(set(producers) | set(consumers), key=["rust", "python", "node"].index)
        run("health 503 when the broker stops", broker_down, broker, langs)
    finally:
        for b in brokers:
            b.stop()

    failed = [r for r in results if r[1] is not None]
    say(f"\n{len(results) - len(failed)} passed, {len(failed)} failed (logs in {LOG_DIR})")
    for name, err, _ in failed:
        say(f"  FAIL {name}: {str(err).splitlines()[0] if str(err) else err!r}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
