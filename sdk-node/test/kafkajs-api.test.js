'use strict';
// The kafkajs-style API: producer.send/sendBatch, consumer.run with eachMessage and eachBatch,
// commits (auto, resolveOffset, manual), pause/resume, retries of a throwing handler, regex
// subscriptions, and the admin client.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Weir, logLevel, WeirError } = require('..');
const { startBroker, unique, waitFor, rejection } = require('./helpers');

let broker;
let weir;
let admin;

before(async () => {
  broker = await startBroker();
  weir = new Weir({ brokers: [broker.brokers], clientId: 'sdk-node-test', adminUrl: broker.adminUrl, logLevel: logLevel.NOTHING });
  admin = weir.admin();
  await admin.connect();
});

after(async () => {
  if (admin) await admin.disconnect();
  if (broker) await broker.stop();
});

async function topic(numPartitions = 1, name = unique('kjs')) {
  assert.equal(await admin.createTopics({ topics: [{ topic: name, numPartitions }] }), true);
  return name;
}

async function produce(t, n, extra = (i) => ({})) {
  const p = weir.producer();
  await p.connect();
  const messages = Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: `v${i}`, ...extra(i) }));
  const r = await p.send({ topic: t, messages });
  await p.disconnect();
  return r;
}

/** The group's committed offset of partition 0 of `t`, as kafkajs' fetchOffsets reports it. */
async function committed(groupId, t) {
  const [o] = await admin.fetchOffsets({ groupId, topics: [t] });
  return o.partitions.find((p) => p.partition === 0).offset;
}

test('producer.send returns kafkajs RecordMetadata and the consumer sees kafkajs-shaped messages', async () => {
  const t = await topic(1);
  const p = weir.producer();
  await p.connect();
  const res = await p.send({
    topic: t,
    messages: [
      { key: 'k', value: 'hello', headers: { a: '1', multi: ['x', Buffer.from('y')] }, timestamp: '1700000000000' },
      { key: null, value: Buffer.from([0, 1, 2]) },
    ],
  });
  assert.deepEqual(res.map((r) => [r.topicName, r.partition, r.errorCode, r.baseOffset]), [[t, 0, 0, '0']]);
  const second = await p.send({ topic: t, acks: 1, messages: [{ value: 'leader-acked' }] });
  assert.equal(second[0].offset, '2');
  await p.disconnect();

  const groupId = unique('g');
  const c = weir.consumer({ groupId });
  await c.connect();
  await c.subscribe({ topics: [t], fromBeginning: true });
  const got = [];
  await c.run({ eachMessage: async ({ topic: tt, partition, message }) => got.push({ tt, partition, message }) });
  await waitFor(() => got.length >= 3, { what: '3 messages' });
  await c.disconnect();
  const [m0, m1, m2] = got.map((g) => g.message);
  assert.equal(got[0].tt, t);
  assert.equal(got[0].partition, 0);
  assert.ok(Buffer.isBuffer(m0.key) && m0.key.toString() === 'k');
  assert.equal(m0.value.toString(), 'hello');
  assert.equal(m0.offset, '0');
  assert.equal(m0.timestamp, '1700000000000');
  assert.equal(m0.headers.a.toString(), '1');
  assert.deepEqual(m0.headers.multi.map(String), ['x', 'y']);
  assert.equal(m1.key, null);
  assert.deepEqual([...m1.value], [0, 1, 2]);
  assert.equal(m2.value.toString(), 'leader-acked');
  assert.equal(got.length, 3, 'each message once');
  // autoCommit: everything handled is committed by the time the consumer stops.
  assert.equal(await committed(groupId, t), '3');
});

test('sendBatch writes to several topics', async () => {
  const [a, b] = [await topic(1), await topic(2)];
  const p = weir.producer({ compression: 1 /* GZIP */ });
  await p.connect();
  const res = await p.sendBatch({
    topicMessages: [
      { topic: a, messages: [{ value: 'a0' }, { value: 'a1' }] },
      { topic: b, messages: [{ value: 'b0', partition: 1 }] },
    ],
  });
  await p.disconnect();
  res.sort((x, y) => x.topicName.localeCompare(y.topicName));
  const want = [
    { topicName: a, partition: 0, baseOffset: '0' },
    { topicName: b, partition: 1, baseOffset: '0' },
  ].sort((x, y) => x.topicName.localeCompare(y.topicName));
  assert.deepEqual(res.map(({ topicName, partition, baseOffset }) => ({ topicName, partition, baseOffset })), want);
});

test('eachBatch commits only resolved offsets, and the unresolved rest comes again', async () => {
  const t = await topic(1);
  await produce(t, 10);
  const groupId = unique('g');
  const c = weir.consumer({ groupId });
  await c.subscribe({ topic: t, fromBeginning: true });
  const batches = [];
  await c.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      assert.equal(typeof isRunning(), 'boolean');
      assert.equal(isStale(), false);
      batches.push({ offsets: batch.messages.map((m) => m.offset), hw: batch.highWatermark });
      for (const m of batch.messages) {
        if (Number(m.offset) < 5) resolveOffset(m.offset);
        await heartbeat();
      }
    },
  });
  // Offsets 5.. are never resolved, so they are handed over again.
  await waitFor(() => batches.filter((b) => b.offsets.includes('5')).length >= 2, { what: 'offset 5 twice' });
  await c.stop();
  assert.equal(batches[0].offsets[0], '0');
  assert.equal(batches[0].hw, '10');
  assert.ok(batches.slice(1).every((b) => b.offsets[0] === '5'), JSON.stringify(batches));
  assert.equal(await committed(groupId, t), '5');

  // The next consumer of the group starts at the first unresolved offset.
  const c2 = weir.consumer({ groupId });
  await c2.subscribe({ topic: t, fromBeginning: true });
  const seen = [];
  await c2.run({ eachMessage: async ({ message }) => seen.push(message.offset) });
  await waitFor(() => seen.length >= 5, { what: '5 messages' });
  await c2.stop();
  assert.deepEqual(seen, ['5', '6', '7', '8', '9']);
  assert.equal(await committed(groupId, t), '10');
});

test('manual commitOffsets with autoCommit off', async () => {
  const t = await topic(1);
  await produce(t, 6);
  const groupId = unique('g');
  const c = weir.consumer({ groupId });
  await c.subscribe({ topics: [t], fromBeginning: true });
  const seen = [];
  await c.run({
    autoCommit: false,
    eachMessage: async ({ topic: tt, partition, message }) => {
      seen.push(message.offset);
      if (message.offset === '2') {
        await c.commitOffsets([{ topic: tt, partition, offset: String(Number(message.offset) + 1) }]);
      }
    },
  });
  await waitFor(() => seen.length >= 6, { what: '6 messages' });
  await c.stop();
  assert.equal(await committed(groupId, t), '3', 'only the manual commit counts');
  const c2 = weir.consumer({ groupId });
  await c2.subscribe({ topics: [t], fromBeginning: true });
  const again = [];
  await c2.run({ autoCommit: false, eachMessage: async ({ message }) => again.push(message.offset) });
  await waitFor(() => again.length >= 3, { what: '3 messages' });
  await c2.stop();
  assert.deepEqual(again, ['3', '4', '5']);
});

test('a throwing eachMessage is retried and its message not committed', async () => {
  const t = await topic(1);
  await produce(t, 6);
  const groupId = unique('g');
  const c = weir.consumer({ groupId, retry: { initialRetryTime: 50, maxRetryTime: 200 } });
  await c.subscribe({ topics: [t], fromBeginning: true });
  const attempts = [];
  let failures = 0;
  let committedDuringFailure = null;
  await c.run({
    eachMessage: async ({ message }) => {
      attempts.push(message.offset);
      if (message.offset === '3' && failures < 2) {
        failures += 1;
        throw new Error('handler failed');
      }
      if (message.offset === '3') committedDuringFailure = await committed(groupId, t);
    },
  });
  await waitFor(() => attempts.includes('5'), { what: 'offset 5' });
  await c.stop();
  assert.deepEqual(attempts, ['0', '1', '2', '3', '3', '3', '4', '5']);
  assert.equal(committedDuringFailure, '3', 'handled offsets committed, the failing one not');
  assert.equal(await committed(groupId, t), '6');
});

test('pause and resume a partition', async () => {
  const t = await topic(2);
  const p = weir.producer();
  await p.connect();
  const messages = [];
  for (let i = 0; i < 10; i++) messages.push({ value: `p${i % 2}-${i}`, partition: i % 2 });
  await p.send({ topic: t, messages });
  const groupId = unique('g');
  const c = weir.consumer({ groupId });
  await c.subscribe({ topics: [t], fromBeginning: true });
  const seen = [];
  let resumeP0 = null;
  await c.run({
    eachMessage: async ({ partition, message, pause }) => {
      seen.push(`${partition}:${message.offset}`);
      if (partition === 0 && message.offset === '1' && !resumeP0) resumeP0 = pause();
    },
  });
  await waitFor(() => seen.filter((s) => s.startsWith('1:')).length >= 5 && resumeP0, { what: 'partition 1 and the pause' });
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(c.paused(), [{ topic: t, partitions: [0] }]);
  assert.deepEqual(seen.filter((s) => s.startsWith('0:')), ['0:0', '0:1'], 'nothing from the paused partition');
  resumeP0();
  await waitFor(() => seen.filter((s) => s.startsWith('0:')).length >= 5, { what: 'partition 0 after resume' });
  await new Promise((r) => setTimeout(r, 500));
  await c.stop();
  await p.disconnect();
  assert.deepEqual(seen.filter((s) => s.startsWith('0:')), ['0:0', '0:1', '0:2', '0:3', '0:4']);
  assert.equal(seen.length, 10, `each message once: ${seen}`);
});

test('consumer.pause/resume by topic and seek', async () => {
  const t = await topic(1);
  await produce(t, 5);
  const c = weir.consumer({ groupId: unique('g') });
  await c.subscribe({ topic: t, fromBeginning: true });
  const seen = [];
  await c.run({ eachMessage: async ({ message }) => seen.push(message.offset) });
  await waitFor(() => seen.length >= 5, { what: '5 messages' });
  c.pause([{ topic: t }]);
  c.seek({ topic: t, partition: 0, offset: '1' });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(seen.length, 5, 'paused');
  c.resume([{ topic: t }]);
  await waitFor(() => seen.length >= 9, { what: 'offsets 1..4 again after the seek' });
  await c.stop();
  assert.deepEqual(seen, ['0', '1', '2', '3', '4', '1', '2', '3', '4']);
});

test('subscribe with a RegExp', async () => {
  const prefix = unique('rx');
  const a = await topic(1, `${prefix}-a`);
  const b = await topic(1, `${prefix}-b`);
  const other = await topic(1, `${unique('other')}-${prefix}`);
  await produce(a, 2);
  await produce(b, 2);
  await produce(other, 2);
  const c = weir.consumer({ groupId: unique('g') });
  await c.subscribe({ topics: [new RegExp(`^${prefix}-.*`)], fromBeginning: true });
  const seen = [];
  await c.run({ eachMessage: async ({ topic: tt, message }) => seen.push(`${tt}:${message.offset}`) });
  await waitFor(() => seen.length >= 4, { what: '4 messages' });
  await new Promise((r) => setTimeout(r, 500));
  await c.stop();
  assert.deepEqual(seen.sort(), [`${a}:0`, `${a}:1`, `${b}:0`, `${b}:1`]);
});

test('admin: topics, partitions, groups, offsets', async () => {
  const t = unique('adm');
  const spec = { topic: t, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '60000' }] };
  assert.equal(await admin.createTopics({ topics: [spec] }), true);
  assert.equal(await admin.createTopics({ topics: [spec] }), false, 'already exists');
  assert.ok((await admin.listTopics()).includes(t));
  await admin.createPartitions({ topicPartitions: [{ topic: t, count: 3 }] });
  const md = await admin.fetchTopicMetadata({ topics: [t] });
  assert.deepEqual(md.topics[0].partitions.map((p) => p.partitionId), [0, 1, 2]);
  assert.equal((await admin.weir.describeTopic(t)).configs['retention.ms'], '60000');

  const p = weir.producer();
  await p.connect();
  await p.send({ topic: t, messages: [{ value: 'x', partition: 0 }, { value: 'y', partition: 0 }] });
  await p.disconnect();
  const groupId = unique('g');
  const c = weir.consumer({ groupId });
  await c.subscribe({ topic: t, fromBeginning: true });
  let n = 0;
  await c.run({ eachMessage: async () => { n += 1; } });
  await waitFor(() => n >= 2, { what: '2 messages' });
  const live = await admin.describeGroups([groupId]);
  assert.equal(live.groups[0].groupId, groupId);
  assert.equal(live.groups[0].members.length, 1);
  const busy = await rejection(admin.resetOffsets({ groupId, topic: t, earliest: true }));
  assert.equal(busy.code, 'GROUP_NOT_EMPTY');
  await c.stop();

  assert.ok((await admin.listGroups()).groups.some((g) => g.groupId === groupId));
  const offsets = await admin.fetchOffsets({ groupId, topics: [t] });
  assert.deepEqual(offsets[0].partitions.map((x) => [x.partition, x.offset]), [[0, '2'], [1, '-1'], [2, '-1']]);
  const lag = await admin.lag({ groupId });
  assert.deepEqual(lag.map((l) => [l.partition, l.position, l.highWatermark, l.lag]), [[0, 2, 2, 0]]);
  await admin.resetOffsets({ groupId, topic: t, earliest: true });
  assert.equal((await admin.fetchOffsets({ groupId, topics: [t] }))[0].partitions[0].offset, '0');
  assert.deepEqual(await admin.deleteGroups([groupId]), [{ groupId, errorCode: 0 }]);
  await admin.deleteTopics({ topics: [t] });
  assert.ok(!(await admin.listTopics()).includes(t));
  const gone = await rejection(admin.fetchTopicMetadata({ topics: [t] }));
  assert.ok(gone instanceof WeirError);
  assert.equal(gone.code, 'UNKNOWN_TOPIC');
});
