#!/usr/bin/env node
'use strict';
// The example producer service on @weir/sdk's kafkajs-style API (same HTTP contract as the
// Rust one).
//   POST /send {message|value, key?, headers?, partition?, topic?} -> {topic, partition, offset}
//   POST /send-batch {messages: [...]} -> {results: [{topic, partition, offset} | {error}]}
//   GET /health -> 200 when the broker answers a metadata request, else 503
//   GET /metrics -> Prometheus text (sent, failed, send latency)
// Env: KAFKA_BROKERS, KAFKA_TOPIC, PORT (default 3001), WEIR_ADMIN_URL.

const { Weir } = require('@weir/sdk');
const { env, log, sdkError, Counter, Histogram, serve, jsonBody, withTimeout } = require('./common');

const NAME = 'producer-service';
const SEND_TIMEOUT_MS = 10_000;
const HEALTH_TIMEOUT_MS = 3_000;

/** Validates one message object; returns {topic?, message} or throws an Error for a 400. */
function parseSend(obj) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error('the body must be a JSON object with a `message` or `value`');
  }
  let value = obj.message ?? obj.value;
  if (value === undefined || value === null) throw new Error('missing `message` (or `value`)');
  if (typeof value !== 'string') value = JSON.stringify(value); // non-strings travel as JSON text
  let key = obj.key ?? null;
  if (key !== null && typeof key !== 'string') key = JSON.stringify(key);
  const headers = obj.headers ?? {};
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    throw new Error('`headers` must be an object of string to string');
  }
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') throw new Error(`header \`${k}\` must be a string`);
  }
  const partition = obj.partition ?? null;
  if (partition !== null && !(Number.isInteger(partition) && partition >= 0 && partition < 2 ** 31)) {
    throw new Error('`partition` must be a non-negative integer');
  }
  const topic = obj.topic ?? null;
  if (topic !== null && (typeof topic !== 'string' || topic === '')) {
    throw new Error('`topic` must be a non-empty string');
  }
  const message = { value, headers };
  if (key !== null) message.key = key;
  if (partition !== null) message.partition = partition;
  return { topic, message };
}

async function main() {
  const cfg = env(3001);
  log(NAME, `starting: brokers=${cfg.brokers} topic=${cfg.topic}`);
  const weir = new Weir({ brokers: cfg.brokers.split(','), clientId: NAME, adminUrl: cfg.adminUrl });
  // A topic the broker does not know (auto-creation off) fails after 3 s as UNKNOWN_TOPIC (404),
  // not as a timeout.
  const producer = weir.producer({
    timeout: SEND_TIMEOUT_MS,
    extra: { 'topic.metadata.propagation.max.ms': '3000' },
  });
  const admin = weir.admin({ timeout: HEALTH_TIMEOUT_MS });
  await producer.connect();

  const sent = new Counter('producer_messages_sent', 'Messages the broker acknowledged');
  const failed = new Counter('producer_messages_failed', 'Messages that could not be sent (invalid, rejected or broker errors)');
  const latency = new Histogram('producer_send_duration_seconds', 'Time from a send to its acknowledgement (or failure)');

  /** Sends one parsed message; [status, body]. */
  async function sendOne({ topic, message }) {
    const started = process.hrtime.bigint();
    const t = topic || cfg.topic;
    try {
      const [r] = await producer.send({ topic: t, messages: [message] });
      latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      sent.inc();
      return [200, { topic: r.topicName, partition: r.partition, offset: Number(r.offset) }];
    } catch (e) {
      latency.observe(Number(process.hrtime.bigint() - started) / 1e9);
      failed.inc();
      log(NAME, `send failed: ${e.message}`);
      return sdkError(e);
    }
  }

  const routes = {
    'POST /send': async (req) => {
      let parsed;
      try {
        parsed = parseSend(jsonBody(req));
      } catch (e) {
        failed.inc();
        return [400, { error: e.message }];
      }
      return sendOne(parsed);
    },
    'POST /send-batch': async (req) => {
      let body;
      try {
        body = jsonBody(req);
      } catch (e) {
        return [400, { error: e.message }];
      }
      if (!body || !Array.isArray(body.messages)) return [400, { error: 'the body must be {"messages": [...]}' }];
      // Every message is sent concurrently (the SDK batches them); results keep the order.
      const results = await Promise.all(
        body.messages.map(async (m) => {
          let parsed;
          try {
            parsed = parseSend(m);
          } catch (e) {
            failed.inc();
            return { error: e.message };
          }
          return (await sendOne(parsed))[1];
        }),
      );
      return [200, { results }];
    },
    'GET /health': async () => {
      try {
        await withTimeout(admin.listTopics(), HEALTH_TIMEOUT_MS, 'metadata request');
        return [200, { status: 'ok', broker: 'reachable' }];
      } catch (e) {
        return [503, { status: 'error', broker: 'unreachable', error: e.message }];
      }
    },
    'GET /metrics': async () => [200, sent.render() + failed.render() + latency.render()],
  };
  await serve(NAME, cfg.port, routes, () => producer.disconnect());
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
