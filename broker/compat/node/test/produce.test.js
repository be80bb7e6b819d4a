'use strict';
// Produce API compatibility: kafkajs producer.send -> Weir, content verified with kcat.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { CompressionTypes, Partitioners } = require('kafkajs');
const W = require('../lib/weir');

const T = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };

describe('kafkajs producer -> Weir Produce', () => {
  let broker, kafka, admin, producer;

  before(async () => {
    broker = await W.startBroker();
    kafka = W.makeKafka(broker.bootstrap);
    admin = kafka.admin();
    await admin.connect();
    producer = W.makeProducer(kafka);
    await producer.connect();
  }, HOOK);

  after(async () => {
    W.dumpApiVersions('produce');
    if (producer) await producer.disconnect().catch(() => {});
    if (admin) await admin.disconnect().catch(() => {});
    if (broker) await broker.stop();
  }, HOOK);

  async function createTopic(topic, numPartitions = 1, configEntries = []) {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions, configEntries }] });
    assert.equal(created, true, `createTopics(${topic}) should return true`);
  }

  async function highWatermarks(topic) {
    const offs = await admin.fetchTopicOffsets(topic);
    return Object.fromEntries(offs.map((o) => [o.partition, Number(o.high)]));
  }

  it('keys, headers, null key/value to explicit partitions; baseOffset per partition', T, async () => {
    const topic = W.uniqueTopic('explicit');
    await createTopic(topic, 3);

    const res1 = await producer.send({
      topic,
      acks: -1,
      messages: [
        { partition: 0, key: 'k0', value: 'v0', headers: { h1: 'a', h2: Buffer.from('bee') } },
        { partition: 0, key: 'k1', value: 'v1' },
        { partition: 1, key: null, value: 'no-key' },
        { partition: 2, key: 'tomb', value: null }, // tombstone
        { partition: 2, key: null, value: null, headers: { dup: ['x', 'y'] } },
      ],
    });
    const byPart = Object.fromEntries(res1.map((r) => [r.partition, r]));
    assert.deepEqual(Object.keys(byPart).map(Number).sort(), [0, 1, 2]);
    for (const p of [0, 1, 2]) {
      assert.equal(byPart[p].topicName, topic);
      assert.equal(byPart[p].errorCode, 0);
      assert.equal(byPart[p].baseOffset, '0', `first batch in partition ${p} starts at 0`);
    }

    // Second send: baseOffset continues after the previous batch in each partition.
    const res2 = await producer.send({
      topic,
      acks: -1,
      messages: [
        { partition: 0, key: 'k2', value: 'v2' },
        { partition: 2, key: 'k3', value: 'v3', headers: { 'utf8-ключ': 'значение' } },
      ],
    });
    const byPart2 = Object.fromEntries(res2.map((r) => [r.partition, r]));
    assert.equal(byPart2[0].baseOffset, '2');
    assert.equal(byPart2[2].baseOffset, '2');
    assert.equal(byPart2[1], undefined, 'partition 1 not in the response of a send that did not touch it');

    assert.deepEqual(await highWatermarks(topic), { 0: 3, 1: 1, 2: 3 });

    const p0 = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(p0.map((r) => [r.offset, r.key, r.payload]), [
      [0, 'k0', 'v0'], [1, 'k1', 'v1'], [2, 'k2', 'v2'],
    ]);
    assert.deepEqual(p0[0].headers, [['h1', 'a'], ['h2', 'bee']]);
    assert.deepEqual(p0[1].headers, []);

    const p1 = await W.kcatRead(broker.bootstrap, topic, 1);
    assert.deepEqual(p1.map((r) => [r.offset, r.key, r.payload]), [[0, null, 'no-key']]);

    const p2 = await W.kcatRead(broker.bootstrap, topic, 2);
    assert.deepEqual(p2.map((r) => [r.offset, r.key, r.payload]), [
      [0, 'tomb', null], [1, null, null], [2, 'k3', 'v3'],
    ]);
    assert.deepEqual(p2[1].headers, [['dup', 'x'], ['dup', 'y']], 'repeated header keys keep order');
    assert.deepEqual(p2[2].headers, [['utf8-ключ', 'значение']]);
  });

  it('partitions by key with the default (murmur2) partitioner', T, async () => {
    const topic = W.uniqueTopic('bykey');
    await createTopic(topic, 3);
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1 }));
    const expectedPartition = (key) => partitioner({ topic, partitionMetadata, message: { key } });

    const keys = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const expected = { 0: [], 1: [], 2: [] };
    // Three rounds so every key is written several times; each round is one send.
    for (let round = 0; round < 3; round++) {
      const messages = keys.map((key) => ({ key, value: `${key}:${round}` }));
      const before = await highWatermarks(topic);
      const res = await producer.send({ topic, acks: 1, messages });
      for (const r of res) {
        assert.equal(r.errorCode, 0);
        assert.equal(Number(r.baseOffset), before[r.partition], `baseOffset of partition ${r.partition}`);
      }
      for (const m of messages) expected[expectedPartition(m.key)].push([m.key, m.value]);
    }
    // the keys really spread over more than one partition (so the test means something)
    assert.ok(Object.values(expected).filter((v) => v.length > 0).length >= 2);

    for (const p of [0, 1, 2]) {
      const recs = await W.kcatRead(broker.bootstrap, topic, p);
      assert.deepEqual(recs.map((r) => [r.key, r.payload]), expected[p], `partition ${p} content`);
      assert.deepEqual(recs.map((r) => r.offset), expected[p].map((_, i) => i));
    }
  });

  const codecCases = [
    ['none', CompressionTypes.None],
    ['gzip', CompressionTypes.GZIP],
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
  ];
  for (const [name, compression] of codecCases) {
    const skip = W.codecs[name] ? false : `kafkajs codec plugin for ${name} not installed: ${W.codecErrors[name]}`;
    it(`compression ${name}: batches round-trip (values, keys, headers, offsets)`, { ...T, skip }, async () => {
      const topic = W.uniqueTopic(`codec-${name}`);
      await createTopic(topic, 1);
      const mk = (i) => ({
        key: `key-${i}`,
        value: `value-${i}-${'compressible '.repeat(20)}`,
        headers: { idx: String(i), codec: name },
      });
      const first = Array.from({ length: 25 }, (_, i) => mk(i));
      const second = Array.from({ length: 25 }, (_, i) => mk(i + 25));
      const r1 = await producer.send({ topic, compression, acks: -1, messages: first });
      const r2 = await producer.send({ topic, compression, acks: -1, messages: second });
      assert.equal(r1[0].baseOffset, '0');
      assert.equal(r2[0].baseOffset, '25');
      assert.deepEqual(await highWatermarks(topic), { 0: 50 });

      const recs = await W.kcatRead(broker.bootstrap, topic, 0);
      assert.equal(recs.length, 50);
      recs.forEach((r, i) => {
        const m = mk(i);
        assert.equal(r.offset, i);
        assert.equal(r.key, m.key);
        assert.equal(r.payload, m.value);
        assert.deepEqual(r.headers, [['idx', String(i)], ['codec', name]]);
      });
    });
  }

  it('acks -1, 1 and 0 all store the records', T, async () => {
    const topic = W.uniqueTopic('acks');
    await createTopic(topic, 1);

    const rAll = await producer.send({ topic, acks: -1, messages: [{ key: 'a', value: 'acks-all' }] });
    assert.equal(rAll.length, 1);
    assert.equal(rAll[0].errorCode, 0);
    assert.equal(rAll[0].baseOffset, '0');

    const rOne = await producer.send({ topic, acks: 1, messages: [{ key: 'b', value: 'acks-one' }] });
    assert.equal(rOne[0].errorCode, 0);
    assert.equal(rOne[0].baseOffset, '1');

    const rZero = await producer.send({
      topic,
      acks: 0,
      messages: [{ key: 'c', value: 'acks-zero-1' }, { key: 'd', value: 'acks-zero-2' }],
    });
    assert.deepEqual(rZero, [], 'acks=0 has no produce response');

    // acks=0 is fire-and-forget: wait (bounded) until the records are visible.
    await W.waitFor(async () => (await highWatermarks(topic))[0] === 4, {
      what: 'acks=0 records to reach the log (high watermark 4)',
    });
    // The connection still works after an acks=0 request (no stray response).
    const rAfter = await producer.send({ topic, acks: -1, messages: [{ key: 'e', value: 'after' }] });
    assert.equal(rAfter[0].baseOffset, '4');

    const recs = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(recs.map((r) => [r.offset, r.key, r.payload]), [
      [0, 'a', 'acks-all'], [1, 'b', 'acks-one'], [2, 'c', 'acks-zero-1'], [3, 'd', 'acks-zero-2'], [4, 'e', 'after'],
    ]);
  });

  it('sendBatch to several topics in one request', T, async () => {
    const t1 = W.uniqueTopic('batch-a');
    const t2 = W.uniqueTopic('batch-b');
    await createTopic(t1, 1);
    await createTopic(t2, 2);
    const res = await producer.sendBatch({
      acks: -1,
      compression: CompressionTypes.GZIP,
      topicMessages: [
        { topic: t1, messages: [{ key: 'x', value: '1' }, { key: 'y', value: '2' }] },
        { topic: t2, messages: [{ partition: 1, key: 'z', value: '3' }] },
      ],
    });
    const got = res.map((r) => [r.topicName, r.partition, r.errorCode, r.baseOffset]).sort();
    assert.deepEqual(got, [[t1, 0, 0, '0'], [t2, 1, 0, '0']].sort());
    const a = await W.kcatRead(broker.bootstrap, t1, 0);
    assert.deepEqual(a.map((r) => [r.key, r.payload]), [['x', '1'], ['y', '2']]);
    const b = await W.kcatRead(broker.bootstrap, t2, 1);
    assert.deepEqual(b.map((r) => [r.key, r.payload]), [['z', '3']]);
  });
});
