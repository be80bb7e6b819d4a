'use strict';
// The Go-style API beyond the conformance scenarios, errors with their codes, and interop
// with kafkajs (what one writes the other reads, headers included).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Kafka, logLevel: kjsLogLevel } = require('kafkajs');
const { Writer, Reader, Admin, Weir, WeirError, logLevel } = require('..');
const { startBroker, unique, waitFor, rejection, pluginWasm } = require('./helpers');

let broker;
let admin;
let kafka;

before(async () => {
  broker = await startBroker();
  admin = new Admin({ brokers: broker.brokers, adminUrl: broker.adminUrl });
  kafka = new Kafka({ brokers: [broker.brokers], clientId: 'interop', logLevel: kjsLogLevel.NOTHING });
});

after(async () => {
  if (broker) await broker.stop();
});

async function topic(partitions = 1) {
  const name = unique('go');
  await admin.createTopic({ name, partitions });
  return name;
}

const str = (b) => (b === null ? null : b.toString());

// ------------------------------------------------------------------ Go-style

test('roundRobin spreads over partitions; for await reads a group; read commits', async () => {
  const t = await topic(3);
  const w = new Writer({ brokers: [broker.brokers], topic: t, balancer: 'roundRobin', compression: 'gzip' });
  const d = await w.writeMessages(Array.from({ length: 6 }, (_, i) => `m${i}`));
  await w.close();
  assert.deepEqual(d.map((x) => x.partition).sort(), [0, 0, 1, 1, 2, 2]);

  const groupId = unique('g');
  const r = new Reader({ brokers: broker.brokers, topic: t, groupId, commitIntervalMs: 100 });
  const values = [];
  for await (const m of r) {
    values.push(str(m.value));
    if (values.length === 6) break;
  }
  assert.deepEqual(values.sort(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
  const lag = await r.lag();
  assert.equal(lag.reduce((n, l) => n + l.lag, 0), 0);
  await r.close();
  const committed = await admin.groupLag(groupId);
  assert.equal(committed.reduce((n, l) => n + l.position, 0), 6, JSON.stringify(committed));
  const g = await admin.describeGroup(groupId);
  assert.equal(g.members.length, 0);
  assert.deepEqual(await admin.resetOffsets(groupId, t, 'earliest'), [
    { partition: 0, offset: 0 },
    { partition: 1, offset: 0 },
    { partition: 2, offset: 0 },
  ]);
});

test('acks leader without idempotence; explicit partition and timestamp', async () => {
  const t = await topic(2);
  const w = new Writer({ brokers: broker.brokers, topic: t, requiredAcks: 'leader', idempotent: false });
  const [d] = await w.writeMessages([{ value: 'x', partition: 1, timestamp: new Date(1_700_000_000_000) }]);
  await w.close();
  assert.equal(d.partition, 1);
  const r = new Reader({ brokers: broker.brokers, topic: t, partition: 1 });
  const m = await r.readMessage({ timeoutMs: 15_000 });
  await r.close();
  assert.equal(m.timestamp, 1_700_000_000_000);
  assert.equal(m.time.getTime(), 1_700_000_000_000);
});

test('a read timeout resolves to null', async () => {
  const t = await topic(1);
  const r = new Reader({ brokers: broker.brokers, topic: t, partition: 0 });
  const started = Date.now();
  assert.equal(await r.readMessage({ timeoutMs: 300 }), null);
  assert.ok(Date.now() - started < 5000);
  await r.close();
});

test('close ends a pending read with null', async () => {
  const t = await topic(1);
  const r = new Reader({ brokers: broker.brokers, topic: t, groupId: unique('g') });
  await r.connect();
  const pending = r.readMessage();
  await new Promise((res) => setTimeout(res, 300));
  const started = Date.now();
  await r.close();
  assert.equal(await pending, null);
  assert.ok(Date.now() - started < 10_000);
  assert.equal((await rejection(r.readMessage({ timeoutMs: 100 }))).code, 'CLOSED');
});

test('plugins: deploy, list, logs, remove', async () => {
  const name = unique('rej');
  const info = await admin.deployPlugin(name, pluginWasm('rejecter'), { version: '2.0.0' });
  assert.equal(info.name, name);
  assert.equal(info.version, '2.0.0');
  assert.ok((await admin.listPlugins()).some((p) => p.name === name));
  assert.equal((await admin.describePlugin(name)).name, name);
  assert.ok(Array.isArray(await admin.pluginLogs(name, { limit: 10 })));
  await admin.removePlugin(name);
  assert.ok(!(await admin.listPlugins()).some((p) => p.name === name));
});

// ------------------------------------------------------------------ errors

test('errors carry a stable code', async () => {
  const cfg = await rejection(Promise.resolve().then(() => new Writer({ brokers: broker.brokers, balancer: 'nope' })));
  assert.ok(cfg instanceof WeirError);
  assert.equal(cfg.code, 'CONFIG');
  const acks = await rejection(Promise.resolve().then(() => new Writer({ brokers: broker.brokers, requiredAcks: 'leader' })));
  assert.equal(acks.code, 'CONFIG', 'idempotence needs acks all');
  assert.equal((await rejection(Promise.resolve().then(() => new Reader({ brokers: '' , topic: 'x' })))).code, 'CONFIG');

  const noTopic = await rejection(admin.describeTopic(unique('missing')));
  assert.equal(noTopic.code, 'UNKNOWN_TOPIC');

  // A reader of every partition looks the topic up when it connects.
  const r = new Reader({ brokers: broker.brokers, topic: unique('missing') });
  const missing = await rejection(r.connect());
  assert.equal(missing.code, 'UNKNOWN_TOPIC');
  assert.match(missing.message, /create it first/);
});

test('a rejection through the kafkajs-style producer has code REJECTED, the topic and the reason', async () => {
  const t = await topic(1);
  const name = unique('rej');
  await admin.deployPlugin(name, pluginWasm('rejecter'));
  await admin.setTopicPlugins(t, [name]);
  const weir = new Weir({ brokers: [broker.brokers], adminUrl: broker.adminUrl, logLevel: logLevel.NOTHING });
  const p = weir.producer();
  await p.connect();
  await p.send({ topic: t, messages: [{ value: 'fine' }] });
  const e = await rejection(p.send({ topic: t, messages: [{ value: 'bad news' }] }));
  assert.equal(e.code, 'REJECTED');
  assert.equal(e.topic, t);
  assert.match(e.reason, /forbidden word "bad"/);

  // Two messages, one of them rejected, in two topics: WRITE lists the failed one.
  const clean = await topic(1);
  const w = new Writer({ brokers: broker.brokers, adminUrl: broker.adminUrl });
  const mixed = await rejection(w.writeMessages([{ topic: clean, value: 'bad but allowed here' }, { topic: t, value: 'bad' }]));
  await w.close();
  await p.disconnect();
  assert.equal(mixed.code, 'WRITE');
  assert.equal(mixed.total, 2);
  assert.equal(mixed.failed.length, 1);
  assert.equal(mixed.failed[0].index, 1);
  assert.equal(mixed.failed[0].code, 'REJECTED');
  assert.match(mixed.failed[0].reason, /forbidden word "bad"/);
});

// ------------------------------------------------------------------ interop with kafkajs

test('interop: @weir/sdk writes, kafkajs reads (headers included)', async () => {
  const t = await topic(1);
  const weir = new Weir({ brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  const p = weir.producer();
  await p.connect();
  await p.send({ topic: t, messages: [{ key: 'from-weir', value: 'hello kafkajs', headers: { trace: 'abc', dup: ['1', '2'] } }] });
  await p.disconnect();

  const c = kafka.consumer({ groupId: unique('kjs') });
  await c.connect();
  await c.subscribe({ topic: t, fromBeginning: true });
  const got = [];
  await c.run({ eachMessage: async ({ message }) => got.push(message) });
  await waitFor(() => got.length >= 1, { what: 'kafkajs to read the message' });
  await c.disconnect();
  assert.equal(got[0].key.toString(), 'from-weir');
  assert.equal(got[0].value.toString(), 'hello kafkajs');
  assert.equal(got[0].headers.trace.toString(), 'abc');
  assert.deepEqual(got[0].headers.dup.map(String), ['1', '2']);
});

test('interop: kafkajs writes, @weir/sdk reads (headers included)', async () => {
  const t = await topic(1);
  const p = kafka.producer();
  await p.connect();
  await p.send({ topic: t, messages: [{ key: 'from-kafkajs', value: 'hello weir', headers: { origin: 'kafkajs', dup: ['x', 'y'] } }] });
  await p.disconnect();

  const weir = new Weir({ brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  const c = weir.consumer({ groupId: unique('weir') });
  await c.subscribe({ topic: t, fromBeginning: true });
  const got = [];
  await c.run({ eachMessage: async ({ message }) => got.push(message) });
  await waitFor(() => got.length >= 1, { what: '@weir/sdk to read the message' });
  await c.disconnect();
  assert.equal(got[0].key.toString(), 'from-kafkajs');
  assert.equal(got[0].value.toString(), 'hello weir');
  assert.equal(got[0].headers.origin.toString(), 'kafkajs');
  assert.deepEqual(got[0].headers.dup.map(String), ['x', 'y']);

  // And the Go-style reader sees the same headers as an ordered list.
  const r = new Reader({ brokers: broker.brokers, topic: t, partition: 0 });
  const m = await r.readMessage({ timeoutMs: 15_000 });
  await r.close();
  assert.deepEqual(m.headers.map((h) => [h.key, str(h.value)]), [['origin', 'kafkajs'], ['dup', 'x'], ['dup', 'y']]);
});
