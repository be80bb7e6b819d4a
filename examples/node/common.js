'use strict';
// What the Node producer and consumer services share: env settings, a JSON HTTP server on
// node:http, Prometheus text metrics, and the mapping of SDK errors to HTTP statuses.

const http = require('node:http');

/** KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_GROUP_ID, WORKER_COUNT, PORT, WEIR_ADMIN_URL. */
function env(defaultPort) {
  const v = (name, def) => (process.env[name] || '').trim() || def;
  const workerCount = Number(v('WORKER_COUNT', '1'));
  const port = Number(v('PORT', String(defaultPort)));
  if (!Number.isInteger(workerCount) || workerCount < 1) fail('WORKER_COUNT must be a positive integer');
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('PORT must be a port number');
  return {
    brokers: v('KAFKA_BROKERS', 'localhost:9092'),
    topic: v('KAFKA_TOPIC', 'events'),
    groupId: v('KAFKA_GROUP_ID', 'consumer-service'),
    workerCount,
    port,
    adminUrl: v('WEIR_ADMIN_URL', undefined),
  };
}

function fail(msg) {
  console.error(msg);
  process.exit(2);
}

function log(name, ...args) {
  console.error(new Date().toISOString(), name, ...args);
}

const STATUS_BY_CODE = {
  REJECTED: 422,
  CONFIG: 400,
  PAYLOAD: 400,
  UNKNOWN_PARTITION: 400,
  UNKNOWN_TOPIC: 404,
  NOT_AUTHORIZED: 403,
  RECORD_TOO_LARGE: 413,
  UNREACHABLE: 503,
  TIMEOUT: 504,
  CANCELLED: 504,
};

/** [HTTP status, JSON body] for an SDK error; a plugin rejection is a 422 with its `reason`. */
function sdkError(e) {
  const status = STATUS_BY_CODE[e && e.code] || 502;
  const body = { error: (e && e.message) || String(e) };
  if (e && e.code === 'REJECTED') body.reason = e.reason;
  return [status, body];
}

// ---------------------------------------------------------------- Prometheus text

const num = (v) => String(v);

class Counter {
  constructor(name, help) {
    Object.assign(this, { name, help, value: 0 });
  }
  inc(n = 1) {
    this.value += n;
  }
  render() {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n${this.name}_total ${num(this.value)}\n`;
  }
}

/** A gauge; `samples` holds [labels, value] pairs, one unlabelled by default. */
class Gauge {
  constructor(name, help, samples = [[{}, 0]]) {
    Object.assign(this, { name, help, samples });
  }
  set(v) {
    this.samples = [[{}, v]];
  }
  render() {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const [labels, v] of this.samples) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${x}"`).join(',');
      out += l ? `${this.name}{${l}} ${num(v)}\n` : `${this.name} ${num(v)}\n`;
    }
    return out;
  }
}

/** Seconds; buckets 1 ms × 2^i (i < 14), as the Rust service. */
class Histogram {
  constructor(name, help) {
    Object.assign(this, { name, help, sum: 0, count: 0 });
    this.buckets = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);
    this.counts = this.buckets.map(() => 0);
  }
  observe(v) {
    this.sum += v;
    this.count += 1;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i] += 1;
    });
  }
  render() {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    this.buckets.forEach((b, i) => {
      out += `${this.name}_bucket{le="${Number(b.toPrecision(6))}"} ${this.counts[i]}\n`;
    });
    out += `${this.name}_bucket{le="+Inf"} ${this.count}\n`;
    out += `${this.name}_sum ${this.sum}\n${this.name}_count ${this.count}\n`;
    return out;
  }
}

// ---------------------------------------------------------------- HTTP

/**
 * Serves `routes` ({'METHOD /path': async (req) => [status, body]}) on 0.0.0.0:port. A string
 * body is sent as Prometheus text, anything else as JSON. `req` has `query` (URLSearchParams)
 * and `body` (Buffer). Resolves to the server; `onStop` runs on SIGTERM/SIGINT.
 */
function serve(name, port, routes, onStop) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const fn = routes[`${req.method} ${path}`];
    let status;
    let body;
    if (!fn) {
      const known = Object.keys(routes).some((k) => k.split(' ')[1] === path);
      [status, body] = known ? [405, { error: 'method not allowed' }] : [404, { error: `no route ${req.method} ${path}` }];
    } else {
      try {
        [status, body] = await fn({ query: url.searchParams, body: Buffer.concat(chunks) });
      } catch (e) {
        log(name, `${req.method} ${path} failed:`, e);
        [status, body] = [500, { error: String((e && e.message) || e) }];
      }
    }
    const text = typeof body === 'string';
    const data = Buffer.from(text ? body : JSON.stringify(body));
    res.writeHead(status, {
      'content-type': text ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json',
      'content-length': data.length,
    });
    res.end(data);
  });
  const stop = async () => {
    server.close();
    try {
      if (onStop) await onStop();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return new Promise((resolve) => {
    server.listen(port, '0.0.0.0', () => {
      log(name, `listening on http://0.0.0.0:${server.address().port}`);
      resolve(server);
    });
  });
}

/** The request's JSON; throws an Error with a 400 message if it is not JSON. */
function jsonBody(req) {
  try {
    return JSON.parse(req.body.length ? req.body.toString('utf8') : 'null');
  } catch (e) {
    throw new Error(`the body is not valid JSON: ${e.message}`);
  }
}

const sleep = (n) => new Promise((r) => setTimeout(r, n));

/** Resolves `p`, or rejects with a TIMEOUT error after `ms`. */
function withTimeout(p, ms, what) {
  let t;
  const timer = new Promise((_, reject) => {
    t = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { code: 'TIMEOUT' })), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

module.exports = { env, log, sdkError, Counter, Gauge, Histogram, serve, jsonBody, sleep, withTimeout };
