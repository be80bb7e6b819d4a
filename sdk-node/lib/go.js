'use strict';
// The Go-style API (segmentio/kafka-go, as weir-sdk in Rust and `weir` in Python):
// Writer, Reader and Admin with the same concepts and option names, in camelCase.

const fs = require('node:fs');
const { native, call, configError } = require('./native');

const FIRST_OFFSET = -2;
const LAST_OFFSET = -1;

// ------------------------------------------------------------------ conversions

function brokerList(brokers) {
  if (Array.isArray(brokers)) brokers = brokers.join(',');
  if (typeof brokers !== 'string' || brokers.trim() === '') {
    throw configError('brokers is empty: pass "host:port" or ["host:port", …]');
  }
  return brokers;
}

/** string | Buffer | Uint8Array | null → Buffer | null. */
function toBuffer(v, what) {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw configError(`${what} must be a string, Buffer or null (got ${typeof v})`);
}

/**
 * Headers as `[{key, value}]`, `[[key, value]]` or kafkajs' `{key: value | [v1, v2]}` → the
 * native list, order and repeated keys kept.
 */
function toHeaders(h) {
  if (h === null || h === undefined) return [];
  const out = [];
  // A null value is left out: napi reads a missing field as None (and refuses null).
  const push = (key, value) => {
    const b = toBuffer(value, `header '${key}'`);
    out.push(b === null ? { key: String(key) } : { key: String(key), value: b });
  };
  if (Array.isArray(h)) {
    for (const e of h) {
      if (Array.isArray(e)) push(e[0], e[1]);
      else push(e.key, e.value);
    }
    return out;
  }
  if (typeof h !== 'object') throw configError('headers must be an object or an array');
  for (const [k, v] of Object.entries(h)) {
    if (Array.isArray(v)) for (const x of v) push(k, x);
    else push(k, v);
  }
  return out;
}

function toTimestamp(t) {
  if (t === null || t === undefined) return undefined;
  if (t instanceof Date) return t.getTime();
  const n = Number(t);
  if (!Number.isFinite(n)) throw configError(`timestamp '${t}' is not a number of ms`);
  return n;
}

/** A message as the native writer takes it. */
function toOutgoing(m) {
  if (m === null || typeof m !== 'object' || Buffer.isBuffer(m)) {
    m = { value: m };
  }
  const out = { headers: toHeaders(m.headers) };
  const key = toBuffer(m.key, 'key');
  const value = toBuffer(m.value, 'value');
  if (key !== null) out.key = key;
  if (value !== null) out.value = value;
  if (m.topic) out.topic = m.topic;
  if (m.partition !== undefined && m.partition !== null) out.partition = Number(m.partition);
  const ts = toTimestamp(m.timestamp);
  if (ts !== undefined) out.timestamp = ts;
  return out;
}

/** A native message as the Go-style API returns it. */
function fromIncoming(m) {
  const ts = m.timestamp === undefined || m.timestamp === null ? null : m.timestamp;
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key ?? null,
    value: m.value ?? null,
    headers: (m.headers || []).map((h) => ({ key: h.key, value: h.value ?? null })),
    timestamp: ts,
    time: ts === null ? null : new Date(ts),
  };
}

function ms(v, name) {
  if (v === undefined || v === null) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw configError(`${name} must be a number of ms ≥ 0`);
  return Math.min(Math.round(n), 0xffffffff);
}

function extra(e) {
  if (!e) return undefined;
  const out = {};
  for (const [k, v] of Object.entries(e)) out[k] = String(v);
  return out;
}

/** snake_case keys → camelCase, recursively, leaving user maps (configs) as they are. */
function camel(v, key) {
  if (Array.isArray(v)) return v.map((x) => camel(x));
  if (v === null || typeof v !== 'object' || key === 'config' || key === 'configs') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    const ck = k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
    out[ck] = camel(x, k);
  }
  return out;
}

// ------------------------------------------------------------------ Writer

/**
 * A producer. `new Writer({brokers, topic, balancer, requiredAcks, compression, batchSize,
 * batchBytes, batchTimeoutMs, idempotent, writeTimeoutMs, clientId, adminUrl, extra})`.
 */
class Writer {
  constructor(config = {}) {
    this.config = { ...config };
    this._native = call(
      () =>
        new native.NativeWriter({
          brokers: brokerList(config.brokers),
          topic: config.topic,
          balancer: config.balancer,
          requiredAcks: config.requiredAcks === undefined ? undefined : String(config.requiredAcks),
          compression: config.compression,
          batchSize: config.batchSize,
          batchBytes: config.batchBytes,
          batchTimeoutMs: ms(config.batchTimeoutMs, 'batchTimeoutMs'),
          idempotent: config.idempotent,
          writeTimeoutMs: ms(config.writeTimeoutMs, 'writeTimeoutMs'),
          clientId: config.clientId,
          adminUrl: config.adminUrl,
          extra: extra(config.extra),
        }),
    );
  }

  /**
   * Writes messages (`{key, value, headers, partition, topic, timestamp}`, or bare values) and
   * waits for every acknowledgement. Resolves to `[{topic, partition, offset}]` in message
   * order; if some fail the others are still written and the error has code WRITE.
   */
  async writeMessages(messages, { timeoutMs } = {}) {
    if (!Array.isArray(messages)) messages = [messages];
    const msgs = messages.map(toOutgoing);
    return call(() => this._native.writeMessages(msgs, ms(timeoutMs, 'timeoutMs')));
  }

  async writeMessage(message, options) {
    const [d] = await this.writeMessages([message], options);
    return d;
  }

  async flush(timeoutMs) {
    return call(() => this._native.flush(ms(timeoutMs, 'timeoutMs')));
  }

  async close() {
    return call(() => this._native.close());
  }
}

// ------------------------------------------------------------------ Reader

function readTimeout(opts) {
  if (typeof opts === 'number') return ms(opts, 'timeoutMs');
  return ms(opts && opts.timeoutMs, 'timeoutMs');
}

/**
 * A consumer. `new Reader({brokers, topic | topics, groupId, partition, startOffset:
 * 'earliest'|'latest', commitIntervalMs, maxWaitMs, minBytes, maxBytes, sessionTimeoutMs,
 * readCommitted, clientId, extra})`. In a group, a topic starting with `^` is a regular
 * expression. Connects on first use (or `await reader.connect()`).
 */
class Reader {
  constructor(config = {}) {
    this.config = { ...config };
    let topics = config.topics || (config.topic !== undefined ? [config.topic] : []);
    if (!Array.isArray(topics)) topics = [topics];
    topics = topics.map((t) => (t instanceof RegExp ? regexTopic(t) : String(t)));
    this._native = call(
      () =>
        new native.NativeReader({
          brokers: brokerList(config.brokers),
          topics,
          groupId: config.groupId,
          partition: config.partition,
          startOffset: config.startOffset,
          commitIntervalMs: ms(config.commitIntervalMs, 'commitIntervalMs'),
          maxWaitMs: ms(config.maxWaitMs, 'maxWaitMs'),
          minBytes: config.minBytes,
          maxBytes: config.maxBytes,
          sessionTimeoutMs: ms(config.sessionTimeoutMs, 'sessionTimeoutMs'),
          readCommitted: config.readCommitted,
          clientId: config.clientId,
          extra: extra(config.extra),
        }),
    );
    this._connected = null;
  }

  /** Creates the consumer (joins the group, or assigns partitions). Idempotent. */
  connect() {
    if (!this._connected) this._connected = call(() => this._native.connect());
    return this._connected;
  }

  /** The next message, committed within `commitIntervalMs` (in a group); null on timeout. */
  async readMessage(opts) {
    await this.connect();
    const m = await call(() => this._native.readMessage(readTimeout(opts)));
    return m ? fromIncoming(m) : null;
  }

  /** The next message without committing it (see `commitMessages`); null on timeout. */
  async fetchMessage(opts) {
    await this.connect();
    const m = await call(() => this._native.fetchMessage(readTimeout(opts)));
    return m ? fromIncoming(m) : null;
  }

  /** Commits, for each partition among `messages`, the offset after its highest message. */
  async commitMessages(messages) {
    if (!Array.isArray(messages)) messages = [messages];
    await this.connect();
    const list = messages.map((m) => ({ topic: m.topic, partition: m.partition, offset: Number(m.offset) }));
    return call(() => this._native.commitMessages(list));
  }

  /** Moves to `offset` (FIRST_OFFSET, LAST_OFFSET or absolute) on an assigned partition. */
  async seek(topic, partition, offset) {
    await this.connect();
    return call(() => this._native.seek(topic, partition, Number(offset)));
  }

  /** kafka-go's SetOffset: seeks the configured partition (or 0) of the topic. */
  async setOffset(offset) {
    const topic = (this.config.topics && this.config.topics[0]) || this.config.topic;
    return this.seek(topic, this.config.partition ?? 0, offset);
  }

  /** `[{topic, partition, position, highWatermark, lag}]` for each assigned partition. */
  async lag() {
    await this.connect();
    return call(() => this._native.lag());
  }

  /** `[{topic, partition}]` currently assigned to this reader. */
  async assignment() {
    await this.connect();
    return call(() => this._native.assignment()).map(({ topic, partition }) => ({ topic, partition }));
  }

  async pause(partitions) {
    await this.connect();
    return call(() => this._native.pause(partitions.map(({ topic, partition }) => ({ topic, partition }))));
  }

  async resume(partitions) {
    await this.connect();
    return call(() => this._native.resume(partitions.map(({ topic, partition }) => ({ topic, partition }))));
  }

  /** Ends pending reads, commits what readMessage marked and leaves the group. */
  async close() {
    return call(() => this._native.close());
  }

  /** `for await (const m of reader)`: readMessage until the reader is closed. */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      const m = await this.readMessage();
      if (!m) return;
      yield m;
    }
  }
}

/** A JavaScript RegExp as a librdkafka topic pattern (which must start with `^`). */
function regexTopic(re) {
  const src = re.source;
  return src.startsWith('^') ? src : `^.*${src}`;
}

// ------------------------------------------------------------------ Admin

async function readWasm(wasm) {
  if (Buffer.isBuffer(wasm)) return wasm;
  if (wasm instanceof Uint8Array) return Buffer.from(wasm);
  if (typeof wasm === 'string') return fs.promises.readFile(wasm);
  throw configError('wasm must be a Buffer or a path to a .wasm component');
}

function toResetTarget(to) {
  if (to === 'earliest' || to === 'latest') return { kind: to };
  if (typeof to === 'number') return { kind: 'offset', value: to };
  if (to && typeof to === 'object') {
    if (to.offset !== undefined) return { kind: 'offset', value: Number(to.offset) };
    if (to.timestamp !== undefined) return { kind: 'timestamp', value: Number(to.timestamp) };
    if (to.kind) return { kind: to.kind, value: to.value === undefined ? undefined : Number(to.value) };
  }
  throw configError("resetOffsets target: 'earliest', 'latest', an offset, {offset} or {timestamp}");
}

/**
 * Cluster administration: topics and groups over the Kafka protocol, Weir's plugins and dead
 * letters over its HTTP API. `new Admin({brokers, adminUrl, timeoutMs, clientId, extra})`.
 */
class Admin {
  constructor(config = {}) {
    this.config = { ...config };
    this._native = call(
      () =>
        new native.NativeAdmin({
          brokers: brokerList(config.brokers),
          adminUrl: config.adminUrl,
          timeoutMs: ms(config.timeoutMs, 'timeoutMs'),
          clientId: config.clientId,
          extra: extra(config.extra),
        }),
    );
  }

  /** The HTTP admin API this client talks to. */
  get adminUrl() {
    return this._native.adminUrl;
  }

  async _json(fn) {
    return camel(JSON.parse(await call(fn)));
  }

  // topics
  /** `{name, partitions, replicationFactor?, configs?: {name: value}}`. */
  async createTopic(spec) {
    const configs = extra(spec.configs);
    return call(() =>
      this._native.createTopic({
        name: spec.name,
        partitions: spec.partitions ?? 1,
        replicationFactor: spec.replicationFactor,
        configs,
      }),
    );
  }

  async deleteTopic(name) {
    return call(() => this._native.deleteTopic(name));
  }

  /** Grows `name` to `total` partitions. */
  async createPartitions(name, total) {
    return call(() => this._native.createPartitions(name, total));
  }

  async listTopics() {
    return call(() => this._native.listTopics());
  }

  /** `{name, partitions: [{partition, leader, replicas, isr}], configs: {name: value}}`. */
  async describeTopic(name) {
    return this._json(() => this._native.describeTopic(name));
  }

  /** Sets and deletes topic configs incrementally: `{set: {name: value}, delete: [names]}`. */
  async alterTopicConfigs(name, { set = {}, delete: del = [] } = {}) {
    return call(() => this._native.alterTopicConfigs(name, extra(set) || {}, del));
  }

  // groups
  /** `[{groupId, state, protocolType, protocol, members: [...]}]`. */
  async listGroups() {
    return (await this._json(() => this._native.listGroups())).map(group);
  }

  /** One group; an unknown group comes back with state `Dead`. */
  async describeGroup(groupId) {
    return group(await this._json(() => this._native.describeGroup(groupId)));
  }

  /** `[{topic, partition, position, highWatermark, lag}]` for each committed partition. */
  async groupLag(groupId) {
    return this._json(() => this._native.groupLag(groupId));
  }

  /**
   * Moves the group's offsets on every partition of `topic` to `'earliest'`, `'latest'`, an
   * offset (number or `{offset}`) or `{timestamp}`. The group must have no live members.
   * Resolves to `[{partition, offset}]`.
   */
  async resetOffsets(groupId, topic, to) {
    const target = toResetTarget(to);
    const r = JSON.parse(await call(() => this._native.resetOffsets(groupId, topic, target)));
    return r.map(([partition, offset]) => ({ partition, offset }));
  }

  async deleteGroup(groupId) {
    return call(() => this._native.deleteGroup(groupId));
  }

  // plugins (Weir)
  /** Deploys (or upgrades) a plugin from a wasm component (Buffer or path). */
  async deployPlugin(name, wasm, { version, memoryMb, timeoutMs, config } = {}) {
    const bytes = await readWasm(wasm);
    return this._json(() =>
      this._native.deployPlugin(name, bytes, {
        version: version === undefined ? undefined : String(version),
        memoryMb,
        timeoutMs,
        config: extra(config),
      }),
    );
  }

  async listPlugins() {
    return this._json(() => this._native.listPlugins());
  }

  async describePlugin(name) {
    return this._json(() => this._native.describePlugin(name));
  }

  async removePlugin(name) {
    return call(() => this._native.removePlugin(name));
  }

  async pluginLogs(name, { limit = 100 } = {}) {
    return this._json(() => this._native.pluginLogs(name, limit));
  }

  /** Sets the chain of plugins on `topic`'s produce path; `[]` detaches them all. */
  async setTopicPlugins(topic, names) {
    return call(() => this._native.setTopicPlugins(topic, names));
  }

  // dead letters (Weir)
  /** Dead letters of `dlqTopic`: `[{partition, offset, key, value, headers, reason, plugin, sourceTopic, …}]`. */
  async inspectDeadLetters(dlqTopic, { offset = 0, limit = 100 } = {}) {
    return this._json(() => this._native.inspectDeadLetters(dlqTopic, offset, limit));
  }

  /** Sends dead letters back through their source topic (or to `to`), from `from`. */
  async replayDeadLetters(dlqTopic, { to, from } = {}) {
    return this._json(() => this._native.replayDeadLetters(dlqTopic, to, from));
  }

  /** Nothing to release; here for symmetry with Writer and Reader. */
  async close() {}
}

function group(g) {
  return {
    ...g,
    members: (g.members || []).map((m) => ({
      ...m,
      assignment: (m.assignment || []).map(([topic, partition]) => ({ topic, partition })),
    })),
  };
}

module.exports = {
  Writer,
  Reader,
  Admin,
  FIRST_OFFSET,
  LAST_OFFSET,
  // shared with the kafkajs-style API
  toBuffer,
  toHeaders,
  toOutgoing,
  brokerList,
  regexTopic,
  ms,
  extra,
};
