'use strict';
// The SDK conformance scenarios (sdk-rust/conformance/SCENARIOS.md), one test per id, with the
// Go-style API that Rust and Python implement them with too. One broker for the file; each
// test uses its own topics and groups.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Writer, Reader, Admin, WeirError, FIRST_OFFSET } = require('..');
const { startBroker, unique, pluginWasm, rejection } = require('./helpers');

let broker;
let admin;

before(async () => {
  broker = await startBroker();
  admin = new Admin({ brokers: broker.brokers, adminUrl: broker.adminUrl });
});

after(async () => {
  if (broker) await broker.stop();
});

const writer = (topic, more = {}) =>
  new Writer({ brokers: broker.brokers, adminUrl: broker.adminUrl, topic, ...more });

async function topic(partitions, configs) {
  const name = unique('conf');
  await admin.createTopic({ name, partitions, configs });
  return name;
}

async function writeN(t, n) {
  const w = writer(t);
  const msgs = [];
  for (let i = 0; i < n; i++) msgs.push({ key: `k${i}`, value: `v${i}` });
  const d = await w.writeMessages(msgs);
  await w.close();
  return d;
}

async function deployRejecter() {
  const name = unique('rejecter');
  await admin.deployPlugin(name, pluginWasm('rejecter'), { version: '1.0.0' });
  return name;
}

const str = (b) => (b === null ? null : b.toString());

test('produce_key_headers', async () => {
  const t = await topic(1);
  const w = writer(t);
  const headers = [
    { key: 'a', value: '1' },
    { key: 'b', value: '2' },
    { key: 'a', value: '3' },
    { key: 'n', value: null },
  ];
  const [d] = await w.writeMessages([{ key: 'k1', value: 'v1', headers }]);
  await w.close();
  const r = new Reader({ brokers: broker.brokers, topic: t, partition: 0, startOffset: 'earliest' });
  try {
    const m = await r.readMessage({ timeoutMs: 15_000 });
    assert.ok(m, 'a message within 15 s');
    assert.equal(str(m.key), 'k1');
    assert.equal(str(m.value), 'v1');
    const got = m.headers.filter((h) => h.key !== 'traceparent').map((h) => [h.key, str(h.value)]);
    assert.deepEqual(got, [['a', '1'], ['b', '2'], ['a', '3'], ['n', null]]);
    assert.equal(d.topic, t);
    assert.equal(d.partition, m.partition);
    assert.equal(d.offset, m.offset);
  } finally {
    await r.close();
  }
});

test('group_consume', async () => {
  const t = await topic(3);
  await writeN(t, 30);
  const r = new Reader({ brokers: broker.brokers, topic: t, groupId: unique('g') });
  try {
    const seen = new Set();
    const values = [];
    const deadline = Date.now() + 60_000;
    while (values.length < 30) {
      assert.ok(Date.now() < deadline, `only ${values.length} of 30 read`);
      const m = await r.readMessage({ timeoutMs: 1000 });
      if (!m) continue;
      seen.add(`${m.topic}/${m.partition}/${m.offset}`);
      values.push(str(m.value));
    }
    assert.equal(seen.size, 30, 'every (topic, partition, offset) distinct');
    assert.deepEqual([...values].sort(), Array.from({ length: 30 }, (_, i) => `v${i}`).sort());
  } finally {
    await r.close();
  }
});

test('manual_commit', async () => {
  const t = await topic(1);
  await writeN(t, 10);
  const groupId = unique('g');
  const r1 = new Reader({ brokers: broker.brokers, topic: t, groupId });
  const got = [];
  while (got.length < 5) {
    const m = await r1.fetchMessage({ timeoutMs: 30_000 });
    assert.ok(m, 'a message within 30 s');
    got.push(m);
  }
  assert.deepEqual(got.map((m) => m.offset), [0, 1, 2, 3, 4]);
  await r1.commitMessages([got[4]]);
  await r1.close();
  const lag = await admin.groupLag(groupId);
  assert.equal(lag.length, 1);
  assert.equal(lag[0].position, 5);
  assert.equal(lag[0].lag, 5);
  const r2 = new Reader({ brokers: broker.brokers, topic: t, groupId });
  try {
    const m = await r2.readMessage({ timeoutMs: 30_000 });
    assert.ok(m);
    assert.equal(m.offset, 5);
  } finally {
    await r2.close();
  }
});

test('seek', async () => {
  const t = await topic(1);
  await writeN(t, 10);
  const r = new Reader({ brokers: broker.brokers, topic: t, partition: 0 });
  try {
    for (let i = 0; i <= 5; i++) {
      const m = await r.readMessage({ timeoutMs: 15_000 });
      assert.equal(m.offset, i);
    }
    await r.seek(t, 0, 2);
    assert.equal((await r.readMessage({ timeoutMs: 15_000 })).offset, 2);
    await r.setOffset(FIRST_OFFSET);
    assert.equal((await r.readMessage({ timeoutMs: 15_000 })).offset, 0);
  } finally {
    await r.close();
  }
});

test('rebalance_two_consumers', async () => {
  const t = await topic(4);
  const groupId = unique('g');
  const a = new Reader({ brokers: broker.brokers, topic: t, groupId });
  const b = new Reader({ brokers: broker.brokers, topic: t, groupId });
  try {
    await a.connect();
    await b.connect();
    await writeN(t, 40);
    const seen = new Map();
    const deadline = Date.now() + 90_000;
    for (;;) {
      const [pa, pb] = [await a.assignment(), await b.assignment()];
      if (seen.size >= 40 && pa.length && pb.length) break;
      assert.ok(Date.now() < deadline, `only ${seen.size} of 40 read; ${JSON.stringify([pa, pb])}`);
      for (const r of [a, b]) {
        const m = await r.readMessage({ timeoutMs: 300 });
        if (m) {
          const k = `${m.partition}/${m.offset}`;
          seen.set(k, (seen.get(k) || 0) + 1);
        }
      }
    }
    for (const [k, n] of seen) assert.equal(n, 1, `${k} read ${n} times`);
    const pa = (await a.assignment()).map((x) => x.partition);
    const pb = (await b.assignment()).map((x) => x.partition);
    assert.ok(pa.length > 0 && pb.length > 0);
    assert.ok(pa.every((p) => !pb.includes(p)), `disjoint: ${pa} / ${pb}`);
    assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2, 3]);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('plugin_rejection', async () => {
  const t = await topic(1);
  const name = await deployRejecter();
  await admin.setTopicPlugins(t, [name]);
  const w = writer(t);
  await w.writeMessage({ value: 'good' });
  const e = await rejection(w.writeMessage({ value: 'this is bad' }));
  await w.close();
  assert.ok(e instanceof WeirError, `${e}`);
  assert.equal(e.code, 'REJECTED');
  assert.equal(e.topic, t);
  assert.match(e.reason, /forbidden word "bad"/);
  const r = new Reader({ brokers: broker.brokers, topic: t, partition: 0 });
  try {
    assert.equal(str((await r.readMessage({ timeoutMs: 15_000 })).value), 'good');
    const [lag] = await r.lag();
    assert.equal(lag.highWatermark, 1, 'only the good record is stored');
  } finally {
    await r.close();
  }
});

test('dlq_replay', async () => {
  const name = await deployRejecter();
  const t = await topic(1, { 'weir.plugins': name, 'weir.plugins.reject.policy': 'dead-letter' });
  const w = writer(t);
  for (const v of ['ok-1', 'bad-1', 'ok-2']) await w.writeMessage({ value: v });
  await w.close();
  const dlq = `${t}.dlq`;
  const letters = await admin.inspectDeadLetters(dlq, { offset: 0, limit: 100 });
  assert.equal(letters.length, 1, JSON.stringify(letters));
  assert.equal(letters[0].value, 'bad-1');
  assert.equal(letters[0].plugin, name);
  assert.match(letters[0].reason, /forbidden word/);
  assert.equal(letters[0].sourceTopic, t);
  await admin.setTopicPlugins(t, []);
  const report = await admin.replayDeadLetters(dlq);
  assert.equal(report.replayed, 1, JSON.stringify(report));
  const r = new Reader({ brokers: broker.brokers, topic: t, partition: 0 });
  try {
    const values = [];
    for (let i = 0; i < 3; i++) values.push(str((await r.readMessage({ timeoutMs: 15_000 })).value));
    assert.ok(values.includes('bad-1'), JSON.stringify(values));
  } finally {
    await r.close();
  }
});

test('admin_create_delete', async () => {
  const t = unique('conf');
  const spec = { name: t, partitions: 3, configs: { 'retention.ms': '3600000' } };
  await admin.createTopic(spec);
  const info = await admin.describeTopic(t);
  assert.equal(info.partitions.length, 3);
  assert.equal(info.configs['retention.ms'], '3600000');
  assert.ok((await admin.listTopics()).includes(t));
  const again = await rejection(admin.createTopic(spec));
  assert.match(again.message, /already exists/);
  await admin.deleteTopic(t);
  const gone = await rejection(admin.describeTopic(t));
  assert.ok(gone instanceof WeirError);
  assert.equal(gone.code, 'UNKNOWN_TOPIC');
  assert.equal(gone.topic, t);
});
