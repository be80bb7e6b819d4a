#!/usr/bin/env python3
"""The example producer service on Weir's Python SDK (same HTTP contract as the Rust one).

- POST /send {message|value, key?, headers?, partition?, topic?} -> {topic, partition, offset}
- POST /send-batch {messages: [...]} -> {results: [{topic, partition, offset} | {error}]}
- GET /health -> 200 when the broker answers a metadata request, else 503
- GET /metrics -> Prometheus text (sent, failed, send latency)

Env: KAFKA_BROKERS, KAFKA_TOPIC, PORT (default 3001), WEIR_ADMIN_URL.
"""

import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import weir  # noqa: E402

from common import (  # noqa: E402
    Counter, Env, Histogram, json_body, serve, sdk_error, setup_logging,
)

log = logging.getLogger("producer-service")
SEND_TIMEOUT_MS = 10_000
HEALTH_TIMEOUT_MS = 3_000


def parse_send(obj):
    """Validates one message object; returns write() keyword arguments or raises ValueError."""
    if not isinstance(obj, dict):
        raise ValueError("the body must be a JSON object with a `message` or `value`")
    value = obj.get("message", obj.get("value"))
    if value is None:
        raise ValueError("missing `message` (or `value`)")
    if not isinstance(value, str):
        value = json.dumps(value, separators=(",", ":"))  # non-strings travel as JSON text
    key = obj.get("key")
    if key is not None and not isinstance(key, str):
        key = json.dumps(key, separators=(",", ":"))
    headers = obj.get("headers")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict):
        raise ValueError("`headers` must be an object of string to string")
    for k, v in headers.items():
        if not isinstance(v, str):
            raise ValueError(f"header `{k}` must be a string")
    partition = obj.get("partition")
    if partition is not None and (type(partition) is not int or partition < 0
                                  or partition >= 2 ** 31):
        raise ValueError("`partition` must be a non-negative integer")
    topic = obj.get("topic")
    if topic is not None and (not isinstance(topic, str) or not topic):
        raise ValueError("`topic` must be a non-empty string")
    return {"value": value, "key": key, "headers": list(headers.items()),
            "partition": partition, "topic": topic}


def delivery_json(d):
    return {"topic": d.topic, "partition": d.partition, "offset": d.offset}


class Producer:
    def __init__(self, env):
        self.writer = weir.Writer(env.brokers, topic=env.topic, admin_url=env.admin_url,
                                  write_timeout_ms=SEND_TIMEOUT_MS,
                                  client_id="producer-service",
                                  # a topic the broker does not know (auto-creation off)
                                  # fails after 3 s as UnknownTopicError (404), not a timeout
                                  extra={"topic.metadata.propagation.max.ms": 3000})
        self.admin = weir.Admin(env.brokers, admin_url=env.admin_url,
                                timeout_ms=HEALTH_TIMEOUT_MS)
        self.pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="send")
        self.sent = Counter("producer_messages_sent", "Messages the broker acknowledged")
        self.failed = Counter("producer_messages_failed",
                              "Messages that could not be sent (invalid, rejected or broker errors)")
        self.latency = Histogram("producer_send_duration_seconds",
                                 "Time from a send to its acknowledgement (or failure)")

    def send_one(self, kwargs):
        """Sends one message; (status, body)."""
        started = time.monotonic()
        try:
            d = self.writer.write(**kwargs)
        except weir.WeirError as e:
            self.latency.observe(time.monotonic() - started)
            self.failed.inc()
            log.warning("send failed: %s", e)
            return sdk_error(e)
        self.latency.observe(time.monotonic() - started)
        self.sent.inc()
        return 200, delivery_json(d)

    def send(self, req):
        try:
            kwargs = parse_send(json_body(req))
        except ValueError as e:
            self.failed.inc()
            return 400, {"error": str(e)}
        return self.send_one(kwargs)

    def send_batch(self, req):
        try:
            body = json_body(req)
        except ValueError as e:
            return 400, {"error": str(e)}
        msgs = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(msgs, list):
            return 400, {"error": 'the body must be {"messages": [...]}'}
        # Every message is sent concurrently (the SDK batches them); results keep the order.
        pending = []
        for m in msgs:
            try:
                pending.append(self.pool.submit(self.send_one, parse_send(m)))
            except ValueError as e:
                self.failed.inc()
                pending.append({"error": str(e)})
        results = [p if isinstance(p, dict) else p.result()[1] for p in pending]
        return 200, {"results": results}

    def health(self, _req):
        try:
            self.admin.list_topics()
        except weir.WeirError as e:
            return 503, {"status": "error", "broker": "unreachable", "error": str(e)}
        return 200, {"status": "ok", "broker": "reachable"}

    def metrics(self, _req):
        return 200, self.sent.render() + self.failed.render() + self.latency.render()


def main():
    setup_logging()
    env = Env(3001)
    log.info("producer-service starting: brokers=%s topic=%s", env.brokers, env.topic)
    p = Producer(env)
    try:
        serve("producer-service", env.port, {
            ("POST", "/send"): p.send,
            ("POST", "/send-batch"): p.send_batch,
            ("GET", "/health"): p.health,
            ("GET", "/metrics"): p.metrics,
        })
    finally:
        p.writer.close()


if __name__ == "__main__":
    main()
