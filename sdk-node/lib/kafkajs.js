'use strict';
// The kafkajs-style API: `new Weir({brokers, clientId})` with producer(), consumer() and admin()
// shaped like kafkajs', on top of the Go-style Writer, Reader and Admin.

const { native, call, configError } = require('./native');
const { Writer, Admin, toOutgoing, brokerList, regexTopic, ms, extra } = require('./go');

const CompressionTypes = { None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 };
const COMPRESSION_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const logLevel = { NOTHING: 0, ERROR: 1, WARN: 2, INFO: 4, DEBUG: 5 };

function compressionName(c) {
  if (c === undefined || c === null) return undefined;
  if (typeof c === 'number') {
    if (!COMPRESSION_NAMES[c]) throw configError(`compression ${c} is not one of CompressionTypes`);
    return COMPRESSION_NAMES[c];
  }
  return String(c).toLowerCase();
}

/** kafkajs' acks (-1 all, 1 leader, 0 none) as the Writer's requiredAcks. */
function acksName(a) {
  if (a === undefined || a === null) return 'all';
  switch (String(a)) {
    case '-1':
    case 'all':
      return 'all';
    case '1':
    case 'leader':
      return 'leader';
    case '0':
    case 'none':
      return 'none';
    default:
      throw configError(`acks ${a}: use -1 (all), 1 (leader) or 0 (none)`);
  }
}

function makeLogger(level, namespace) {
  const at = (lvl, name) => (message, extraInfo) => {
    if (level >= lvl) {
      const e = extraInfo ? ` ${JSON.stringify(extraInfo, (_, v) => (v instanceof Error ? v.message : v))}` : '';
      console.error(`[weir ${namespace}] ${name} ${message}${e}`);
    }
  };
  return { error: at(logLevel.ERROR, 'ERROR'), warn: at(logLevel.WARN, 'WARN'), info: at(logLevel.INFO, 'INFO'), debug: at(logLevel.DEBUG, 'DEBUG') };
}

const sleep = (n) => new Promise((r) => setTimeout(r, n));

// ------------------------------------------------------------------ Weir

/**
 * `new Weir({brokers: ['localhost:9092'], clientId, adminUrl, logLevel})`, kafkajs' `Kafka`.
 */
class Weir {
  constructor(config = {}) {
    this.config = { ...config, brokers: brokerList(config.brokers) };
    this.logLevel = config.logLevel ?? logLevel.ERROR;
  }

  producer(options = {}) {
    return new Producer(this, options);
  }

  consumer(options = {}) {
    return new Consumer(this, options);
  }

  admin(options = {}) {
    return new KafkaAdmin(this, options);
  }
}

// ------------------------------------------------------------------ Producer

/**
 * kafkajs' producer: `weir.producer({idempotent, acks, compression, lingerMs, batchSize,
 * timeout, extra})`, then `connect()`, `send({topic, acks, compression, messages})`,
 * `sendBatch({topicMessages})`, `disconnect()`. Keys hash with murmur2 as in kafkajs and Java.
 */
class Producer {
  constructor(weir, options) {
    this._weir = weir;
    this._options = { ...options };
    this._writers = new Map(); // "acks|compression" -> Writer
    this._connected = false;
  }

  _writer(acks, compression) {
    const o = this._options;
    const required = acksName(acks ?? o.acks);
    const comp = compressionName(compression ?? o.compression) || 'none';
    const key = `${required}|${comp}`;
    let w = this._writers.get(key);
    if (!w) {
      w = new Writer({
        brokers: this._weir.config.brokers,
        clientId: this._weir.config.clientId,
        adminUrl: this._weir.config.adminUrl,
        requiredAcks: required,
        compression: comp,
        // Weir's default is idempotent writes; they need acks=all.
        idempotent: o.idempotent ?? required === 'all',
        batchTimeoutMs: o.lingerMs ?? o.batchTimeoutMs,
        batchSize: o.batchSize,
        writeTimeoutMs: o.timeout ?? o.writeTimeoutMs,
        extra: o.extra,
      });
      this._writers.set(key, w);
    }
    return w;
  }

  async connect() {
    this._writer(undefined, undefined);
    this._connected = true;
  }

  /**
   * `{topic, acks?, compression?, timeout?, messages: [{key, value, headers, partition,
   * timestamp}]}` → kafkajs' RecordMetadata, one per partition written:
   * `[{topicName, partition, errorCode: 0, baseOffset, offset}]` (offsets as strings; `offset`
   * is the first message's, which for a single message is its own).
   */
  async send({ topic, messages, acks, compression, timeout } = {}) {
    if (!topic) throw configError('send needs a topic');
    if (!Array.isArray(messages)) throw configError('send needs messages: [...]');
    return this.sendBatch({ topicMessages: [{ topic, messages }], acks, compression, timeout });
  }

  /** `{topicMessages: [{topic, messages}], acks?, compression?}`. */
  async sendBatch({ topicMessages, acks, compression, timeout } = {}) {
    if (!Array.isArray(topicMessages)) throw configError('sendBatch needs topicMessages: [...]');
    const msgs = [];
    for (const { topic, messages } of topicMessages) {
      for (const m of messages) msgs.push(toOutgoing({ ...m, topic }));
    }
    if (msgs.length === 0) return [];
    const w = this._writer(acks, compression);
    const deliveries = await call(() => w._native.writeMessages(msgs, ms(timeout, 'timeout')));
    const byPartition = new Map();
    for (const d of deliveries) {
      const k = `${d.topic}\u0000${d.partition}`;
      const cur = byPartition.get(k);
      if (!cur) byPartition.set(k, { topicName: d.topic, partition: d.partition, first: d.offset });
      else if (d.offset < cur.first) cur.first = d.offset;
    }
    return [...byPartition.values()].map(({ topicName, partition, first }) => ({
      topicName,
      partition,
      errorCode: 0,
      baseOffset: String(first),
      offset: String(first),
      logAppendTime: '-1',
      logStartOffset: '-1',
    }));
  }

  async flush({ timeout } = {}) {
    await Promise.all([...this._writers.values()].map((w) => w.flush(timeout)));
  }

  async disconnect() {
    const ws = [...this._writers.values()];
    this._writers.clear();
    this._connected = false;
    await Promise.all(ws.map((w) => w.close()));
  }
}

// ------------------------------------------------------------------ Consumer

const tpKey = (topic, partition) => `${topic}\u0000${partition}`;

/** A native message as kafkajs shows it: offsets and timestamps are strings, headers an object. */
function kafkajsMessage(m) {
  const headers = {};
  for (const h of m.headers || []) {
    const v = h.value ?? null;
    if (Object.prototype.hasOwnProperty.call(headers, h.key)) {
      const cur = headers[h.key];
      headers[h.key] = Array.isArray(cur) ? [...cur, v] : [cur, v];
    } else {
      headers[h.key] = v;
    }
  }
  return {
    key: m.key ?? null,
    value: m.value ?? null,
    headers,
    offset: String(m.offset),
    timestamp: m.timestamp === undefined || m.timestamp === null ? '-1' : String(m.timestamp),
    attributes: 0,
    size: 0,
  };
}

/**
 * kafkajs' consumer: `weir.consumer({groupId, sessionTimeout, rebalanceTimeout,
 * heartbeatInterval, maxWaitTimeInMs, minBytes, maxBytes, maxBytesPerPartition,
 * readUncommitted, retry: {initialRetryTime, maxRetryTime}, extra})`.
 *
 * Semantics follow kafkajs: messages of a partition are handed over in order; with
 * `autoCommit` (default) the offsets of handled (resolved) messages are committed after each
 * batch; a handler that throws leaves its message uncommitted, and the partition is rewound
 * to it and retried after a backoff. `heartbeat()` is a no-op (librdkafka heartbeats in the
 * background).
 */
class Consumer {
  constructor(weir, options = {}) {
    if (!options.groupId) throw configError('consumer needs a groupId');
    this._weir = weir;
    this._options = { ...options };
    this._log = makeLogger(weir.logLevel, 'Consumer');
    this._subscriptions = []; // {topic: string | RegExp}
    this._fromBeginning = false;
    this._reader = null;
    this._running = false;
    this._loop = null;
    this._paused = new Set(); // tpKey, or `${topic}\u0000*` for a whole topic
    this._rewound = new Map(); // tpKey -> offset a paused partition was rewound to
    this._generation = new Map(); // tpKey -> bumps on seek, so an in-flight batch goes stale
    this._pendingSeeks = new Map(); // tpKey -> {topic, partition, offset} not yet assigned
  }

  async connect() {}

  /** `{topics: [string | RegExp]}` or `{topic}`, and `fromBeginning` (default false). */
  async subscribe({ topic, topics, fromBeginning = false } = {}) {
    if (this._running) throw configError('subscribe before run()');
    const list = topics || (topic !== undefined ? [topic] : []);
    if (list.length === 0) throw configError('subscribe needs topic or topics');
    for (const t of list) {
      if (!(t instanceof RegExp) && typeof t !== 'string') throw configError(`invalid topic ${t}`);
      this._subscriptions.push(t);
    }
    // librdkafka has one auto.offset.reset per consumer: any fromBeginning subscription makes
    // partitions without a committed offset start from the earliest offset.
    this._fromBeginning = this._fromBeginning || Boolean(fromBeginning);
  }

  _readerOptions() {
    const o = this._options;
    const extraProps = { ...(o.extra || {}) };
    if (o.heartbeatInterval) extraProps['heartbeat.interval.ms'] = String(o.heartbeatInterval);
    if (o.rebalanceTimeout) extraProps['max.poll.interval.ms'] = String(Math.max(o.rebalanceTimeout, o.sessionTimeout || 0));
    if (o.maxBytes) extraProps['fetch.max.bytes'] = String(o.maxBytes);
    return {
      brokers: this._weir.config.brokers,
      clientId: this._weir.config.clientId,
      groupId: o.groupId,
      topics: this._subscriptions.map((t) => (t instanceof RegExp ? regexTopic(t) : t)),
      startOffset: this._fromBeginning ? 'earliest' : 'latest',
      sessionTimeoutMs: ms(o.sessionTimeout, 'sessionTimeout'),
      maxWaitMs: ms(o.maxWaitTimeInMs, 'maxWaitTimeInMs'),
      minBytes: o.minBytes,
      maxBytes: o.maxBytesPerPartition,
      readCommitted: o.readUncommitted === undefined ? undefined : !o.readUncommitted,
      extra: extra(extraProps),
    };
  }

  /**
   * Starts consuming: `{eachMessage}` or `{eachBatch}`, `autoCommit` (default true),
   * `eachBatchAutoResolve` (default true), `partitionsConsumedConcurrently` (accepted; partitions
   * are handled one after the other). Resolves once the consumer has joined its subscription.
   */
  async run({ eachMessage, eachBatch, autoCommit = true, eachBatchAutoResolve = true } = {}) {
    if (this._running) throw configError('the consumer is already running');
    if (!eachMessage && !eachBatch) throw configError('run needs eachMessage or eachBatch');
    if (this._subscriptions.length === 0) throw configError('subscribe before run()');
    const reader = new native.NativeReader(this._readerOptions());
    await call(() => reader.connect());
    this._reader = reader;
    this._running = true;
    this._autoCommit = autoCommit;
    this._loop = this._runLoop({ eachMessage, eachBatch, eachBatchAutoResolve }).catch((e) => {
      this._log.error(`consumer loop ended: ${e.message}`, { groupId: this._options.groupId });
    });
  }

  async _runLoop(handlers) {
    const retry = this._options.retry || {};
    const initial = retry.initialRetryTime ?? 300;
    const max = retry.maxRetryTime ?? 30_000;
    let failures = 0;
    while (this._running) {
      await this._applyPendingSeeks();
      let msgs;
      try {
        msgs = await call(() => this._reader.fetchBatch(500, 200));
      } catch (e) {
        if (!this._running) break;
        this._log.error(`fetch failed: ${e.message}`, { groupId: this._options.groupId });
        await sleep(Math.min(initial * 2 ** failures++, max));
        continue;
      }
      if (msgs.length === 0) continue;
      const batches = new Map();
      for (const m of msgs) {
        const k = tpKey(m.topic, m.partition);
        let b = batches.get(k);
        if (!b) batches.set(k, (b = { topic: m.topic, partition: m.partition, messages: [] }));
        b.messages.push(m);
      }
      let failed = false;
      for (const b of batches.values()) {
        if (!this._running) {
          await this._seek(b.topic, b.partition, b.messages[0].offset);
          continue;
        }
        if (this._isPaused(b.topic, b.partition)) {
          await this._rewindPaused(b.topic, b.partition, b.messages[0].offset);
          continue;
        }
        const ok = await this._handle(b, handlers);
        failed = failed || !ok;
      }
      if (failed) {
        await sleep(Math.min(initial * 2 ** failures++, max));
      } else {
        failures = 0;
      }
    }
  }

  /** Handles one partition's messages; false if a handler threw. */
  async _handle(b, { eachMessage, eachBatch, eachBatchAutoResolve }) {
    const { topic, partition } = b;
    const key = tpKey(topic, partition);
    const generation = this._generation.get(key) || 0;
    const stale = () => (this._generation.get(key) || 0) !== generation || !this._running;
    let resolved = null; // highest handled offset
    let committed = null;
    const commitResolved = async () => {
      if (!this._autoCommit || resolved === null || resolved === committed || stale()) return;
      await call(() => this._reader.commitMessages([{ topic, partition, offset: resolved }]));
      committed = resolved;
    };
    const pauseThis = () => {
      this.pause([{ topic, partitions: [partition] }]);
      return () => this.resume([{ topic, partitions: [partition] }]);
    };
    const nextUnhandled = () => {
      const m = b.messages.find((x) => resolved === null || x.offset > resolved);
      return m ? m.offset : null;
    };
    try {
      if (eachMessage) {
        for (const m of b.messages) {
          if (stale()) break;
          if (this._isPaused(topic, partition)) {
            await this._rewindPaused(topic, partition, m.offset);
            break;
          }
          await eachMessage({
            topic,
            partition,
            message: kafkajsMessage(m),
            heartbeat: async () => {},
            pause: pauseThis,
          });
          resolved = m.offset;
        }
      } else {
        const messages = b.messages.map(kafkajsMessage);
        const highWatermark = await this._highWatermark(topic, partition, b.messages);
        const batch = {
          topic,
          partition,
          highWatermark,
          messages,
          isEmpty: () => messages.length === 0,
          firstOffset: () => (messages.length ? messages[0].offset : null),
          lastOffset: () => (messages.length ? messages[messages.length - 1].offset : String(BigInt(highWatermark) - 1n)),
          offsetLag: () => String(BigInt(highWatermark) - 1n - BigInt(batch.lastOffset())),
          offsetLagLow: () => String(BigInt(highWatermark) - 1n - BigInt(batch.firstOffset() ?? highWatermark)),
        };
        await eachBatch({
          batch,
          resolveOffset: (offset) => {
            const o = Number(offset);
            if (resolved === null || o > resolved) resolved = o;
          },
          heartbeat: async () => {},
          commitOffsetsIfNecessary: async (offsets) => {
            if (offsets) return this.commitOffsets(Array.isArray(offsets) ? offsets : offsetsToList(offsets));
            return commitResolved();
          },
          uncommittedOffsets: () => ({
            topics: resolved === null ? [] : [{ topic, partitions: [{ partition: String(partition), offset: String(resolved + 1) }] }],
          }),
          isRunning: () => this._running,
          isStale: stale,
          pause: pauseThis,
        });
        if (eachBatchAutoResolve && !stale() && b.messages.length) {
          const last = b.messages[b.messages.length - 1].offset;
          if (resolved === null || last > resolved) resolved = last;
        }
      }
      await commitResolved();
      // Messages left unhandled (stopped, paused or stale) are fetched again.
      if (!stale()) {
        const next = nextUnhandled();
        if (next !== null && !this._isPaused(topic, partition)) await this._seek(topic, partition, next);
      }
      return true;
    } catch (e) {
      this._log.error(`Error when calling ${eachMessage ? 'eachMessage' : 'eachBatch'}: ${e && e.message}`, {
        topic,
        partition,
        groupId: this._options.groupId,
      });
      try {
        await commitResolved();
      } catch (ce) {
        this._log.error(`commit failed: ${ce.message}`);
      }
      const next = nextUnhandled();
      if (next !== null && !stale()) await this._seek(topic, partition, next);
      return false;
    }
  }

  async _highWatermark(topic, partition, msgs) {
    try {
      const lag = await call(() => this._reader.lag());
      const l = lag.find((x) => x.topic === topic && x.partition === partition);
      if (l) return String(Math.max(l.highWatermark, msgs[msgs.length - 1].offset + 1));
    } catch (e) {
      this._log.warn(`high watermark unknown: ${e.message}`);
    }
    return String(msgs[msgs.length - 1].offset + 1);
  }

  async _seek(topic, partition, offset) {
    try {
      await call(() => this._reader.seek(topic, partition, Number(offset)));
    } catch (e) {
      // Not assigned any more (a rebalance): the next owner starts from the committed offset.
      this._log.warn(`seek ${topic}/${partition} to ${offset}: ${e.message}`);
    }
  }

  _isPaused(topic, partition) {
    return this._paused.has(tpKey(topic, partition)) || this._paused.has(tpKey(topic, '*'));
  }

  /** A paused partition's already-fetched message: rewind so it comes again after resume. */
  async _rewindPaused(topic, partition, offset) {
    const k = tpKey(topic, partition);
    const at = this._rewound.get(k);
    if (at !== undefined && at <= offset) return;
    this._rewound.set(k, offset);
    await this._seek(topic, partition, offset);
  }

  async _applyPendingSeeks() {
    if (this._pendingSeeks.size === 0) return;
    const assigned = new Set(call(() => this._reader.assignment()).map((a) => tpKey(a.topic, a.partition)));
    for (const [k, s] of this._pendingSeeks) {
      if (!assigned.has(k)) continue;
      this._pendingSeeks.delete(k);
      await this._seek(s.topic, s.partition, s.offset);
    }
  }

  /** Commits `[{topic, partition, offset}]` where offset is the next one to read (a string). */
  async commitOffsets(offsets) {
    if (!this._reader) throw configError('commitOffsets needs a running consumer');
    const list = offsets.map(({ topic, partition, offset }) => ({
      topic,
      partition: Number(partition),
      offset: Number(offset) - 1,
    }));
    return call(() => this._reader.commitMessages(list));
  }

  /** Moves `{topic, partition, offset}`; the next message of that partition is `offset`. */
  seek({ topic, partition, offset }) {
    if (!this._reader) throw configError('seek needs a running consumer (call run first)');
    const k = tpKey(topic, partition);
    this._generation.set(k, (this._generation.get(k) || 0) + 1);
    this._rewound.delete(k);
    const assigned = call(() => this._reader.assignment()).some((a) => a.topic === topic && a.partition === Number(partition));
    if (!assigned) {
      this._pendingSeeks.set(k, { topic, partition: Number(partition), offset: Number(offset) });
      return;
    }
    this._seek(topic, Number(partition), Number(offset));
  }

  _expand(topicPartitions) {
    const assigned = this._reader ? call(() => this._reader.assignment()) : [];
    const out = [];
    for (const { topic, partitions } of topicPartitions) {
      if (partitions) for (const p of partitions) out.push({ topic, partition: Number(p), whole: false });
      else {
        out.push({ topic, partition: '*', whole: true });
        for (const a of assigned) if (a.topic === topic) out.push({ topic, partition: a.partition, whole: false });
      }
    }
    return out;
  }

  /** `[{topic, partitions?}]`: stops handing over those partitions until `resume`. */
  pause(topicPartitions) {
    const list = this._expand(topicPartitions);
    for (const p of list) this._paused.add(tpKey(p.topic, p.partition));
    const concrete = list.filter((p) => !p.whole).map(({ topic, partition }) => ({ topic, partition }));
    if (this._reader && concrete.length) call(() => this._reader.pause(concrete));
  }

  resume(topicPartitions) {
    const list = this._expand(topicPartitions);
    for (const p of list) {
      this._paused.delete(tpKey(p.topic, p.partition));
      this._rewound.delete(tpKey(p.topic, p.partition));
    }
    const concrete = list.filter((p) => !p.whole).map(({ topic, partition }) => ({ topic, partition }));
    if (this._reader && concrete.length) call(() => this._reader.resume(concrete));
  }

  /** `[{topic, partitions: [numbers]}]` currently paused. */
  paused() {
    const by = new Map();
    for (const k of this._paused) {
      const [topic, p] = k.split('\u0000');
      if (p === '*') continue;
      if (!by.has(topic)) by.set(topic, []);
      by.get(topic).push(Number(p));
    }
    return [...by].map(([topic, partitions]) => ({ topic, partitions }));
  }

  /** `[{topic, partition}]` assigned to this consumer. */
  assignment() {
    return this._reader ? call(() => this._reader.assignment()).map(({ topic, partition }) => ({ topic, partition })) : [];
  }

  /** Stops the loop after the batch in hand, commits handled offsets and leaves the group. */
  async stop() {
    if (!this._reader) return;
    this._running = false;
    if (this._loop) await this._loop;
    this._loop = null;
    const r = this._reader;
    this._reader = null;
    await call(() => r.close());
  }

  async disconnect() {
    await this.stop();
  }
}

function offsetsToList(o) {
  const out = [];
  for (const t of o.topics || []) for (const p of t.partitions) out.push({ topic: t.topic, partition: p.partition, offset: p.offset });
  return out;
}

// ------------------------------------------------------------------ Admin

/**
 * kafkajs' admin, plus Weir's plugins and dead letters: `weir.admin()`, `connect()`,
 * `createTopics`, `deleteTopics`, `listTopics`, `fetchTopicMetadata`, `createPartitions`,
 * `listGroups`, `describeGroups`, `fetchOffsets`, `lag`, `resetOffsets`, `deleteGroups`,
 * `deployPlugin`, `listPlugins`, `removePlugin`, `pluginLogs`, `setTopicPlugins`,
 * `inspectDeadLetters`, `replayDeadLetters`, `disconnect()`.
 */
class KafkaAdmin {
  constructor(weir, options = {}) {
    this._admin = new Admin({
      brokers: weir.config.brokers,
      adminUrl: weir.config.adminUrl,
      clientId: weir.config.clientId,
      timeoutMs: options.timeout,
      extra: options.extra,
    });
  }

  /** The Go-style Admin underneath, for what kafkajs has no words for. */
  get weir() {
    return this._admin;
  }

  async connect() {}

  async disconnect() {}

  /**
   * `{topics: [{topic, numPartitions, replicationFactor, configEntries: [{name, value}]}]}`.
   * Resolves true if every topic was created, false if some already existed (as kafkajs).
   */
  async createTopics({ topics } = {}) {
    let created = true;
    for (const t of topics) {
      const configs = {};
      for (const { name, value } of t.configEntries || []) configs[name] = String(value);
      try {
        await this._admin.createTopic({
          name: t.topic,
          partitions: t.numPartitions ?? 1,
          replicationFactor: t.replicationFactor,
          configs,
        });
      } catch (e) {
        if (/already exists/i.test(e.message)) created = false;
        else throw e;
      }
    }
    return created;
  }

  async deleteTopics({ topics } = {}) {
    for (const t of topics) await this._admin.deleteTopic(t);
  }

  async listTopics() {
    return this._admin.listTopics();
  }

  /** `{topics: [{name, partitions: [{partitionErrorCode, partitionId, leader, replicas, isr}]}]}`. */
  async fetchTopicMetadata({ topics } = {}) {
    const names = topics && topics.length ? topics : await this._admin.listTopics();
    const out = [];
    for (const name of names) {
      const t = await this._admin.describeTopic(name);
      out.push({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionErrorCode: 0,
          partitionId: p.partition,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: [],
        })),
      });
    }
    return { topics: out };
  }

  /** `{topicPartitions: [{topic, count}]}` where count is the new total. */
  async createPartitions({ topicPartitions } = {}) {
    for (const { topic, count } of topicPartitions) await this._admin.createPartitions(topic, count);
    return true;
  }

  /** `{groups: [{groupId, protocolType}]}`. */
  async listGroups() {
    const gs = await this._admin.listGroups();
    return { groups: gs.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType })) };
  }

  /** `{groups: [{groupId, state, protocolType, protocol, members: [{memberId, clientId, clientHost, assignment}]}]}`. */
  async describeGroups(groupIds) {
    const groups = [];
    for (const id of groupIds) {
      const g = await this._admin.describeGroup(id);
      groups.push({ errorCode: 0, ...g });
    }
    return { groups };
  }

  /**
   * `{groupId, topics?}` → `[{topic, partitions: [{partition, offset}]}]`, offsets as strings,
   * '-1' for partitions the group has not committed.
   */
  async fetchOffsets({ groupId, topics } = {}) {
    const lag = await this._admin.groupLag(groupId);
    const names = topics && topics.length ? topics : [...new Set(lag.map((l) => l.topic))];
    const out = [];
    for (const topic of names) {
      const t = await this._admin.describeTopic(topic);
      out.push({
        topic,
        partitions: t.partitions.map(({ partition }) => {
          const l = lag.find((x) => x.topic === topic && x.partition === partition);
          return { partition, offset: l ? String(l.position) : '-1', metadata: null };
        }),
      });
    }
    return out;
  }

  /** Weir: `{groupId}` → `[{topic, partition, position, highWatermark, lag}]`. */
  async lag({ groupId } = {}) {
    return this._admin.groupLag(groupId);
  }

  /** `{groupId, topic, earliest}`: to the earliest (or latest) offset on every partition. */
  async resetOffsets({ groupId, topic, earliest = false } = {}) {
    return this._admin.resetOffsets(groupId, topic, earliest ? 'earliest' : 'latest');
  }

  /** Resolves to `[{groupId, errorCode}]`; throws on the first group that cannot be deleted. */
  async deleteGroups(groupIds) {
    const out = [];
    for (const id of groupIds) {
      await this._admin.deleteGroup(id);
      out.push({ groupId: id, errorCode: 0 });
    }
    return out;
  }

  // Weir
  /** `{name, wasm: Buffer | path, version?, config?, memoryMb?, timeoutMs?}`. */
  async deployPlugin({ name, wasm, ...options } = {}) {
    return this._admin.deployPlugin(name, wasm, options);
  }

  async listPlugins() {
    return this._admin.listPlugins();
  }

  async describePlugin(name) {
    return this._admin.describePlugin(name);
  }

  async removePlugin(name) {
    return this._admin.removePlugin(typeof name === 'object' ? name.name : name);
  }

  async pluginLogs(name, options) {
    return this._admin.pluginLogs(name, options);
  }

  async setTopicPlugins(topic, names) {
    return this._admin.setTopicPlugins(topic, names);
  }

  async inspectDeadLetters(dlqTopic, options) {
    return this._admin.inspectDeadLetters(dlqTopic, options);
  }

  async replayDeadLetters(dlqTopic, options) {
    return this._admin.replayDeadLetters(dlqTopic, options);
  }
}

module.exports = { Weir, Producer, Consumer, KafkaAdmin, CompressionTypes, logLevel };
