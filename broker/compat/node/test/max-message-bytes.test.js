'use strict';
// max.message.bytes enforcement on Produce (MESSAGE_TOO_LARGE).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { CompressionTypes, ConfigResourceTypes } = require('kafkajs');
const W = require('../lib/weir');

const T = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };

describe('topic with max.message.bytes=1024', () => {
  let broker, kafka, admin, producer, topic;

  before(async () => {
    broker = await W.startBroker();
    kafka = W.makeKafka(broker.bootstrap);
    admin = kafka.admin();
    await admin.connect();
    producer = W.makeProducer(kafka);
    await producer.connect();
    topic = W.uniqueTopic('small-msgs');
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1024' }] }],
    });
    assert.equal(created, true);
  }, HOOK);

  after(async () => {
    W.dumpApiVersions('max-message-bytes');
    if (producer) await producer.disconnect().catch(() => {});
    if (admin) await admin.disconnect().catch(() => {});
    if (broker) await broker.stop();
  }, HOOK);

  const high = async () => Number((await admin.fetchTopicOffsets(topic))[0].high);
  // random hex does not compress much, and gives a predictable uncompressed size
  const randomValue = (bytes) => crypto.randomBytes(bytes / 2).toString('hex');

  it('config is visible via describeConfigs', T, async () => {
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
    });
    const e = res.resources[0].configEntries.find((c) => c.configName === 'max.message.bytes');
    assert.equal(e?.configValue, '1024');
  });

  it('small messages succeed, a 10 KB message fails with MESSAGE_TOO_LARGE', T, async () => {
    const small = randomValue(100);
    const r1 = await producer.send({ topic, acks: -1, messages: [{ key: 's1', value: small }] });
    assert.equal(r1[0].baseOffset, '0');

    const before = await high();
    await W.expectRejectType(
      producer.send({ topic, acks: -1, messages: [{ key: 'big', value: randomValue(10 * 1024) }] }),
      'MESSAGE_TOO_LARGE',
    );
    assert.equal(await high(), before, 'rejected batch is not appended');

    // the same producer/connection keeps working afterwards
    const r2 = await producer.send({ topic, acks: 1, messages: [{ key: 's2', value: 'tiny' }] });
    assert.equal(r2[0].baseOffset, String(before));

    const recs = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(recs.map((r) => [r.key, r.payload]), [['s1', small], ['s2', 'tiny']]);
  });

  it('a batch of small records whose total exceeds 1024 bytes is rejected as a whole', T, async () => {
    const before = await high();
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `m${i}`, value: randomValue(100) }));
    await W.expectRejectType(producer.send({ topic, acks: -1, messages }), 'MESSAGE_TOO_LARGE');
    assert.equal(await high(), before, 'no record of the rejected batch is appended');
  });

  it('the limit applies to the compressed batch: 10 KB of gzip-compressible data fits', T, async () => {
    const before = await high();
    const value = 'a'.repeat(10 * 1024);
    const r = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key: 'z', value }] });
    assert.equal(r[0].baseOffset, String(before));
    const recs = await W.kcatRead(broker.bootstrap, topic, 0);
    const last = recs[recs.length - 1];
    assert.equal(last.key, 'z');
    assert.equal(last.payload, value);
  });
});
