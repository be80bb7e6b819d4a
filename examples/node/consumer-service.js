#!/usr/bin/env node
'use strict';
// The example consumer service on @weir/sdk's kafkajs-style API (same HTTP contract as the
// Rust one). Reads KAFKA_TOPIC in group KAFKA_GROUP_ID from startup (from the earliest offset
// when the group has none) with WORKER_COUNT consumers (at most one per partition), keeping the
// last 1000 messages in memory.
//   GET /messages?limit=100&offset=0 -> {messages, total, limit, offset}, newest first
//   GET /messages/latest -> the newest message, 404 when there is none
//   GET /stats -> {count, rate_per_sec, lag: {total, partitions}, last_offset, started_at, ...}
//   DELETE /messages -> {cleared}
//   GET /health, GET /metrics
// Env: KAFKA_BROKERS, KAFKA_TOPIC, KAFKA_GROUP_ID, WORKER_COUNT, PORT (default 3002),
// WEIR_ADMIN_URL.

const { Weir } = require('@weir/sdk');
const { env, log, Counter, Gauge, serve, sleep, withTimeout } = require('./common');

const NAME = 'consumer-service';
const BUFFER_SIZE = 1000;
const DEFAULT_LIMIT = 100;
const RATE_WINDOW_S = 10;
const BROKER_TIMEOUT_MS = 3_000;

const text = (b) => (b === null || b === undefined ? null : Buffer.isBuffer(b) ? b.toString('utf8') : String(b));

/** Key and value as UTF-8 text, headers as an object (last value of a name wins), timestamp in ms. */
function messageJson(topic, partition, m) {
  const headers = {};
  for (const [k, v] of Object.entries(m.headers || {})) {
    headers[k] = text(Array.isArray(v) ? v[v.length - 1] : v);
  }
  const ts = Number(m.timestamp);
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: text(m.key),
    value: text(m.value),
    headers,
    timestamp: Number.isFinite(ts) && ts >= 0 ? ts : null,
  };
}

async function main() {
  const cfg = env(3002);
  log(NAME, `starting: brokers=${cfg.brokers} topic=${cfg.topic} group=${cfg.groupId} workers=${cfg.workerCount}`);
  const weir = new Weir({ brokers: cfg.brokers.split(','), clientId: NAME, adminUrl: cfg.adminUrl });
  const admin = weir.admin({ timeout: BROKER_TIMEOUT_MS });
  const startedMs = Date.now();
  const state = {
    buffer: [],
    count: 0,
    rate: [], // [second, count]
    lastOffset: new Map(),
    consumers: [],
    status: 'starting',
    lag: { total: 0, partitions: new Map() },
    stopping: false,
  };
  const consumed = new Counter('consumer_messages_consumed', 'Messages read from the topic');
  const lagGauge = new Gauge('consumer_lag', 'Messages written to the topic but not yet read by this service (all partitions)');
  const partitionLag = new Gauge('consumer_partition_lag', 'Lag of each partition this service reads', []);
  const buffered = new Gauge('consumer_buffered_messages', 'Messages held in memory (at most 1000)');

  const prune = (nowS) => {
    while (state.rate.length && state.rate[0][0] <= nowS - RATE_WINDOW_S) state.rate.shift();
  };

  function record(topic, partition, message) {
    const m = messageJson(topic, partition, message);
    state.buffer.push(m);
    if (state.buffer.length > BUFFER_SIZE) state.buffer.shift();
    state.count += 1;
    consumed.inc();
    const nowS = Math.floor(Date.now() / 1000);
    const last = state.rate[state.rate.length - 1];
    if (last && last[0] === nowS) last[1] += 1;
    else state.rate.push([nowS, 1]);
    prune(nowS);
    state.lastOffset.set(partition, Math.max(state.lastOffset.get(partition) ?? m.offset, m.offset));
  }

  /** Waits for the topic, then starts WORKER_COUNT consumers (capped at its partitions). */
  async function startWorkers() {
    let partitions = 0;
    while (!state.stopping) {
      try {
        const md = await withTimeout(admin.fetchTopicMetadata({ topics: [cfg.topic] }), BROKER_TIMEOUT_MS, 'metadata request');
        partitions = md.topics[0] ? md.topics[0].partitions.length : 0;
        if (partitions > 0) break;
        state.status = 'waiting for topic';
      } catch (e) {
        state.status = e.code === 'UNKNOWN_TOPIC' ? 'waiting for topic' : `waiting for the broker: ${e.message}`;
      }
      await sleep(1000);
    }
    if (state.stopping) return;
    const workers = Math.max(1, Math.min(cfg.workerCount, partitions));
    if (workers < cfg.workerCount) log(NAME, `WORKER_COUNT=${cfg.workerCount} capped at the ${partitions} partitions of '${cfg.topic}'`);
    for (let i = 0; i < workers; i++) {
      const consumer = weir.consumer({ groupId: cfg.groupId });
      try {
        await consumer.subscribe({ topics: [cfg.topic], fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ topic, partition, message }) => record(topic, partition, message),
        });
      } catch (e) {
        log(NAME, `consumer ${i}: ${e.message}`);
        state.status = `error: ${e.message}`;
        continue;
      }
      state.consumers.push(consumer);
    }
    if (state.consumers.length) {
      state.status = 'consuming';
      log(NAME, `consuming '${cfg.topic}' in group '${cfg.groupId}' with ${state.consumers.length} consumer(s)`);
    }
  }

  /** The group's lag on the topic, from its committed offsets (the last known value on errors). */
  async function refreshLag() {
    try {
      const lags = await withTimeout(admin.lag({ groupId: cfg.groupId }), BROKER_TIMEOUT_MS, 'lag');
      const partitions = new Map();
      let total = 0;
      for (const l of lags) {
        if (l.topic !== cfg.topic) continue;
        partitions.set(l.partition, l.lag);
        total += l.lag;
      }
      state.lag = { total, partitions };
      lagGauge.set(total);
      partitionLag.samples = [...partitions].sort((a, b) => a[0] - b[0]).map(([p, v]) => [{ partition: p }, v]);
    } catch (e) {
      // keep the last known lag
    }
    return state.lag;
  }

  const byPartition = (m) => Object.fromEntries([...m].sort((a, b) => a[0] - b[0]).map(([p, v]) => [String(p), v]));

  const routes = {
    'GET /messages': async (req) => {
      const parse = (name, def) => {
        const v = req.query.get(name);
        if (v === null) return def;
        if (!/^\d+$/.test(v)) throw new Error(`\`${name}\` must be a non-negative integer`);
        return Number(v);
      };
      let limit;
      let offset;
      try {
        limit = Math.min(parse('limit', DEFAULT_LIMIT), BUFFER_SIZE);
        offset = parse('offset', 0);
      } catch (e) {
        return [400, { error: e.message }];
      }
      const newestFirst = state.buffer.slice().reverse();
      return [200, { messages: newestFirst.slice(offset, offset + limit), total: newestFirst.length, limit, offset }];
    },
    'GET /messages/latest': async () => {
      if (!state.buffer.length) return [404, { error: 'no messages consumed yet' }];
      return [200, state.buffer[state.buffer.length - 1]];
    },
    'DELETE /messages': async () => {
      const cleared = state.buffer.length;
      state.buffer = [];
      return [200, { cleared }];
    },
    'GET /stats': async () => {
      const lag = await refreshLag();
      const now = Date.now();
      prune(Math.floor(now / 1000));
      const n = state.rate.reduce((a, [, c]) => a + c, 0);
      const uptime = Math.floor((now - startedMs) / 1000);
      const rate = n / Math.min(Math.max(uptime, 1), RATE_WINDOW_S);
      return [200, {
        topic: cfg.topic,
        group_id: cfg.groupId,
        workers: state.consumers.length,
        status: state.status,
        count: state.count,
        buffered: state.buffer.length,
        rate_per_sec: Math.round(rate * 100) / 100,
        lag: { total: lag.total, partitions: byPartition(lag.partitions) },
        last_offset: byPartition(state.lastOffset),
        started_at: new Date(startedMs).toISOString(),
      }];
    },
    'GET /health': async () => {
      try {
        await withTimeout(admin.listTopics(), BROKER_TIMEOUT_MS, 'metadata request');
        return [200, { status: 'ok', broker: 'reachable', consumer: state.status }];
      } catch (e) {
        return [503, { status: 'error', broker: 'unreachable', consumer: state.status, error: e.message }];
      }
    },
    'GET /metrics': async () => {
      await refreshLag();
      buffered.set(state.buffer.length);
      return [200, consumed.render() + lagGauge.render() + partitionLag.render() + buffered.render()];
    },
  };

  const stop = async () => {
    state.stopping = true;
    await Promise.all(state.consumers.map((c) => c.disconnect().catch(() => {})));
  };
  await serve(NAME, cfg.port, routes, stop);
  startWorkers().catch((e) => {
    log(NAME, `starting the consumers failed: ${e.message}`);
    state.status = `error: ${e.message}`;
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
