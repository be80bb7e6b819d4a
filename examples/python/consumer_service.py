#!/usr/bin/env python3
"""The example consumer service on Weir's Python SDK (same HTTP contract as the Rust one).

Reads KAFKA_TOPIC in group KAFKA_GROUP_ID from startup (from the earliest offset when the
group has none) with WORKER_COUNT readers (at most one per partition), keeping the last 1000
messages in memory.

- GET /messages?limit=100&offset=0 -> {messages, total, limit, offset}, newest first
- GET /messages/latest -> the newest message, 404 when there is none
- GET /stats -> {count, rate_per_sec, lag: {total, partitions}, last_offset, started_at, ...}
- DELETE /messages -> {cleared}
- GET /health, GET /metrics

Env: KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_GROUP_ID, WORKER_COUNT, PORT (default 3002),
WEIR_ADMIN_URL.
"""

import collections
import concurrent.futures
import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weir  # noqa: E402

from common import Counter, Env, Gauge, rfc3339, serve, setup_logging  # noqa: E402

log = logging.getLogger("consumer-service")
BUFFER_SIZE = 1000
DEFAULT_LIMIT = 100
RATE_WINDOW_S = 10
BROKER_TIMEOUT_S = 3


def text(b):
    return None if b is None else b.decode("utf-8", "replace")


def message_json(m):
    """Key and value as UTF-8 text, headers as an object (last value of a name wins),
    timestamp in ms since the epoch."""
    return {
        "topic": m.topic,
        "partition": m.partition,
        "offset": m.offset,
        "key": text(m.key),
        "value": text(m.value),
        "headers": {k: text(v) for k, v in m.headers},
        "timestamp": m.timestamp_ms,
    }


class Consumer:
    def __init__(self, env):
        self.env = env
        self.admin = weir.Admin(env.brokers, admin_url=env.admin_url,
                                timeout_ms=BROKER_TIMEOUT_S * 1000)
        self.started_ms = int(time.time() * 1000)
        self.lock = threading.Lock()
        self.buffer = collections.deque(maxlen=BUFFER_SIZE)
        self.count = 0
        self.rate = collections.deque()  # (second, count)
        self.last_offset = {}
        self.readers = []
        self.status = "starting"
        self.lag_cache = (0, {})
        self.stopping = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8,
                                                          thread_name_prefix="lag")
        self.consumed = Counter("consumer_messages_consumed", "Messages read from the topic")
        self.lag_gauge = Gauge("consumer_lag", "Messages written to the topic but not yet read "
                               "by this service (all partitions)")
        self.partition_lag = Gauge("consumer_partition_lag",
                                   "Lag of each partition this service reads")
        self.partition_lag.set_labelled([])
        self.buffered = Gauge("consumer_buffered_messages",
                              "Messages held in memory (at most 1000)")

    # ---- reading ----

    def start(self):
        threading.Thread(target=self._start_workers, name="starter", daemon=True).start()

    def _start_workers(self):
        while not self.stopping.is_set():
            try:
                info = self.admin.describe_topic(self.env.topic)
                if info.partitions:
                    partitions = len(info.partitions)
                    break
                self.status = "waiting for topic"
            except weir.UnknownTopicError:
                self.status = "waiting for topic"
            except weir.WeirError as e:
                self.status = f"waiting for the broker: {e}"
            self.stopping.wait(1)
        else:
            return
        workers = max(1, min(self.env.worker_count, partitions))
        if workers < self.env.worker_count:
            log.info("WORKER_COUNT=%d capped at the %d partitions of '%s'",
                     self.env.worker_count, partitions, self.env.topic)
        for i in range(workers):
            try:
                r = weir.Reader(self.env.brokers, self.env.topic, group_id=self.env.group_id,
                                start_offset="earliest", client_id=f"consumer-service-{i}")
            except weir.WeirError as e:
                log.error("reader %d: %s", i, e)
                self.status = f"error: {e}"
                continue
            with self.lock:
                self.readers.append(r)
            threading.Thread(target=self._work, args=(i, r), name=f"reader-{i}",
                             daemon=True).start()
        if self.readers:
            self.status = "consuming"
            log.info("consuming '%s' in group '%s' with %d reader(s)", self.env.topic,
                     self.env.group_id, len(self.readers))

    def _work(self, i, reader):
        while not self.stopping.is_set():
            try:
                m = reader.read_message(timeout=1.0)
            except weir.TimeoutError:
                continue
            except weir.ClosedError:
                return
            except weir.WeirError as e:
                log.warning("reader %d: %s", i, e)
                time.sleep(0.5)
                continue
            self._record(m)

    def _record(self, m):
        now_s = int(time.time())
        with self.lock:
            self.buffer.append(message_json(m))
            self.count += 1
            if self.rate and self.rate[-1][0] == now_s:
                self.rate[-1][1] += 1
            else:
                self.rate.append([now_s, 1])
            self._prune(now_s)
            if m.partition is not None:
                self.last_offset[m.partition] = max(self.last_offset.get(m.partition, m.offset),
                                                    m.offset)
        self.consumed.inc()

    def _prune(self, now_s):
        while self.rate and self.rate[0][0] <= now_s - RATE_WINDOW_S:
            self.rate.popleft()

    def stop(self):
        self.stopping.set()
        with self.lock:
            readers, self.readers = self.readers, []
        for r in readers:
            try:
                r.close()
            except weir.WeirError as e:
                log.warning("closing a reader: %s", e)

    # ---- lag ----

    def refresh_lag(self):
        """Lag summed over the readers (the last known value when the broker is slow)."""
        with self.lock:
            readers = list(self.readers)
        total, parts = 0, {}
        try:
            for r in readers:
                for p in self.pool.submit(r.lag).result(timeout=BROKER_TIMEOUT_S):
                    if p.topic == self.env.topic:
                        total += p.lag
                        parts[p.partition] = p.lag
        except (weir.WeirError, concurrent.futures.TimeoutError) as e:
            log.debug("lag: %s", e)
            return self.lag_cache
        self.lag_cache = (total, parts)
        self.lag_gauge.set(total)
        self.partition_lag.set_labelled(
            ({"partition": str(p)}, v) for p, v in sorted(parts.items()))
        return self.lag_cache

    # ---- HTTP ----

    def messages(self, req):
        try:
            limit = int(req.query.get("limit", DEFAULT_LIMIT))
            offset = int(req.query.get("offset", 0))
            if limit < 0 or offset < 0:
                raise ValueError
        except ValueError:
            return 400, {"error": "`limit` and `offset` must be non-negative integers"}
        limit = min(limit, BUFFER_SIZE)
        with self.lock:
            newest_first = list(reversed(self.buffer))
        return 200, {"messages": newest_first[offset:offset + limit],
                     "total": len(newest_first), "limit": limit, "offset": offset}

    def latest(self, _req):
        with self.lock:
            if not self.buffer:
                return 404, {"error": "no messages consumed yet"}
            return 200, self.buffer[-1]

    def clear(self, _req):
        with self.lock:
            n = len(self.buffer)
            self.buffer.clear()
        return 200, {"cleared": n}

    def stats(self, _req):
        total, parts = self.refresh_lag()
        now = time.time()
        with self.lock:
            self._prune(int(now))
            n = sum(c for _, c in self.rate)
            uptime = int(now - self.started_ms / 1000)
            rate = n / min(max(uptime, 1), RATE_WINDOW_S)
            return 200, {
                "topic": self.env.topic,
                "group_id": self.env.group_id,
                "workers": len(self.readers),
                "status": self.status,
                "count": self.count,
                "buffered": len(self.buffer),
                "rate_per_sec": round(rate, 2),
                "lag": {"total": total,
                        "partitions": {str(p): v for p, v in sorted(parts.items())}},
                "last_offset": {str(p): o for p, o in sorted(self.last_offset.items())},
                "started_at": rfc3339(self.started_ms),
            }

    def health(self, _req):
        try:
            self.admin.list_topics()
        except weir.WeirError as e:
            return 503, {"status": "error", "broker": "unreachable", "consumer": self.status,
                         "error": str(e)}
        return 200, {"status": "ok", "broker": "reachable", "consumer": self.status}

    def metrics(self, _req):
        self.refresh_lag()
        with self.lock:
            self.buffered.set(len(self.buffer))
        return 200, (self.consumed.render() + self.lag_gauge.render()
                     + self.partition_lag.render() + self.buffered.render())


def main():
    setup_logging()
    env = Env(3002)
    log.info("consumer-service starting: brokers=%s topic=%s group=%s workers=%d",
             env.brokers, env.topic, env.group_id, env.worker_count)
    c = Consumer(env)
    c.start()
    try:
        serve("consumer-service", env.port, {
            ("GET", "/messages"): c.messages,
            ("DELETE", "/messages"): c.clear,
            ("GET", "/messages/latest"): c.latest,
            ("GET", "/stats"): c.stats,
            ("GET", "/health"): c.health,
            ("GET", "/metrics"): c.metrics,
        })
    finally:
        c.stop()


if __name__ == "__main__":
    main()
