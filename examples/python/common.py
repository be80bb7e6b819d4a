"""What the Python producer and consumer services share: env settings, a JSON HTTP server on
the standard library, Prometheus text metrics, and the mapping of SDK errors to HTTP statuses."""

import datetime
import json
import logging
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import weir

log = logging.getLogger("weir-examples")


class Env:
    """KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_GROUP_ID, WORKER_COUNT, PORT, WEIR_ADMIN_URL."""

    def __init__(self, default_port):
        def var(name, default):
            v = os.environ.get(name, "").strip()
            return v or default

        self.brokers = var("KAFKA_BROKERS", "localhost:9092")
        self.topic = var("KAFKA_TOPIC", "events")
        self.group_id = var("KAFKA_GROUP_ID", "consumer-service")
        try:
            self.worker_count = int(var("WORKER_COUNT", "1"))
            self.port = int(var("PORT", str(default_port)))
        except ValueError as e:
            sys.exit(f"WORKER_COUNT and PORT must be integers: {e}")
        if self.worker_count < 1:
            sys.exit("WORKER_COUNT must be at least 1")
        self.admin_url = os.environ.get("WEIR_ADMIN_URL", "").strip() or None


def setup_logging():
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def sdk_error(e):
    """(HTTP status, JSON body) for an SDK exception; a plugin rejection is a 422 with the
    plugin's ``reason``."""
    if isinstance(e, weir.RejectedError):
        return 422, {"error": str(e), "reason": e.reason}
    if isinstance(e, (weir.ConfigError, weir.PayloadError, weir.UnknownPartitionError)):
        status = 400
    elif isinstance(e, weir.UnknownTopicError):
        status = 404
    elif isinstance(e, weir.NotAuthorizedError):
        status = 403
    elif isinstance(e, weir.RecordTooLargeError):
        status = 413
    elif isinstance(e, weir.UnreachableError):
        status = 503
    elif isinstance(e, (weir.TimeoutError, weir.CancelledError)):
        status = 504
    else:
        status = 502
    return status, {"error": str(e)}


# ---- Prometheus text ---------------------------------------------------------------------

def _num(v):
    return repr(float(v)) if isinstance(v, float) and v != int(v) else str(int(v))


class Counter:
    def __init__(self, name, help_):
        self.name, self.help, self.value = name, help_, 0
        self._lock = threading.Lock()

    def inc(self, n=1):
        with self._lock:
            self.value += n

    def render(self):
        return (f"# HELP {self.name} {self.help}\n# TYPE {self.name} counter\n"
                f"{self.name}_total {_num(self.value)}\n")


class Gauge:
    """A gauge; ``samples`` holds (labels dict, value) pairs, one unlabelled by default."""

    def __init__(self, name, help_):
        self.name, self.help = name, help_
        self.samples = [({}, 0)]

    def set(self, value):
        self.samples = [({}, value)]

    def set_labelled(self, samples):
        self.samples = list(samples)

    def render(self):
        out = f"# HELP {self.name} {self.help}\n# TYPE {self.name} gauge\n"
        for labels, v in self.samples:
            lbl = ",".join(f'{k}="{v}"' for k, v in labels.items())
            out += f"{self.name}{{{lbl}}} {_num(v)}\n" if lbl else f"{self.name} {_num(v)}\n"
        return out


class Histogram:
    """Seconds; buckets 1 ms × 2^i (i < 14), as the Rust service."""

    BUCKETS = [0.001 * 2 ** i for i in range(14)]

    def __init__(self, name, help_):
        self.name, self.help = name, help_
        self.counts = [0] * len(self.BUCKETS)
        self.sum, self.count = 0.0, 0
        self._lock = threading.Lock()

    def observe(self, v):
        with self._lock:
            self.sum += v
            self.count += 1
            for i, b in enumerate(self.BUCKETS):
                if v <= b:
                    self.counts[i] += 1

    def render(self):
        out = f"# HELP {self.name} {self.help}\n# TYPE {self.name} histogram\n"
        with self._lock:
            for b, c in zip(self.BUCKETS, self.counts):
                out += f'{self.name}_bucket{{le="{b:g}"}} {c}\n'
            out += f'{self.name}_bucket{{le="+Inf"}} {self.count}\n'
            out += f"{self.name}_sum {self.sum!r}\n{self.name}_count {self.count}\n"
        return out


# ---- HTTP ----------------------------------------------------------------------------------

class Request:
    def __init__(self, handler):
        parts = urlsplit(handler.path)
        self.method = handler.command
        self.path = parts.path.rstrip("/") or "/"
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("content-length") or 0)
        self.body = handler.rfile.read(length) if length else b""


def serve(name, port, routes):
    """Serves ``routes`` ({(method, path): fn(Request) -> (status, body)}) on 0.0.0.0:port
    until SIGTERM or Ctrl-C. A str body is sent as Prometheus text, anything else as JSON."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self):
            req = Request(self)
            fn = routes.get((req.method, req.path))
            if fn is None:
                known = any(p == req.path for _, p in routes)
                status, body = (405, {"error": "method not allowed"}) if known \
                    else (404, {"error": f"no route {req.method} {req.path}"})
            else:
                try:
                    status, body = fn(req)
                except Exception as e:  # noqa: BLE001 - a handler bug must not kill the server
                    log.exception("%s %s failed", req.method, req.path)
                    status, body = 500, {"error": str(e)}
            if isinstance(body, str):
                data = body.encode()
                ctype = "text/plain; version=0.0.4; charset=utf-8"
            else:
                data = json.dumps(body).encode()
                ctype = "application/json"
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = _handle

        def log_message(self, fmt, *args):
            log.debug("%s " + fmt, self.address_string(), *args)

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("%s listening on http://0.0.0.0:%d", name, server.server_address[1])
    server.serve_forever()
    server.server_close()


def json_body(req):
    """The request's JSON, or raises ValueError with a message for a 400."""
    try:
        return json.loads(req.body or b"null")
    except ValueError as e:
        raise ValueError(f"the body is not valid JSON: {e}") from None
