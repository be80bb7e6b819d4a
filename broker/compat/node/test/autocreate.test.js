'use strict';
// Topic auto-creation through Metadata(allow_auto_topic_creation) from the kafkajs producer.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const W = require('../lib/weir');

const T = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };
// kafkajs retries UNKNOWN_TOPIC_OR_PARTITION; keep that bounded.
const NEGATIVE_RETRY = { retries: 1, initialRetryTime: 100, maxRetryTime: 300 };

async function withProducer(kafka, opts, fn) {
  const p = W.makeProducer(kafka, opts);
  await p.connect();
  try {
    return await fn(p);
  } finally {
    await p.disconnect().catch(() => {});
  }
}

describe('auto-create on (default), --num-partitions 3', () => {
  let broker, kafka, admin;
  before(async () => {
    broker = await W.startBroker(['--num-partitions', '3']);
    kafka = W.makeKafka(broker.bootstrap);
    admin = kafka.admin();
    await admin.connect();
  }, HOOK);
  after(async () => {
    W.dumpApiVersions('autocreate');
    if (admin) await admin.disconnect().catch(() => {});
    if (broker) await broker.stop();
  }, HOOK);

  it('producer with allowAutoTopicCreation: true creates the topic on first send', T, async () => {
    const topic = W.uniqueTopic('auto');
    assert.ok(!(await admin.listTopics()).includes(topic));
    const res = await withProducer(kafka, { allowAutoTopicCreation: true, retry: { retries: 5, initialRetryTime: 100 } },
      (p) => p.send({ topic, acks: -1, messages: [{ partition: 2, key: 'k', value: 'auto-created' }] }));
    assert.equal(res[0].errorCode, 0);
    assert.equal(res[0].partition, 2);
    assert.equal(res[0].baseOffset, '0');

    assert.ok((await admin.listTopics()).includes(topic), 'topic now exists');
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(md.topics[0].partitions.length, 3, '--num-partitions applies to auto-created topics');
    for (const p of md.topics[0].partitions) assert.equal(p.leader, 1);

    const recs = await W.kcatRead(broker.bootstrap, topic, 2);
    assert.deepEqual(recs.map((r) => [r.offset, r.key, r.payload]), [[0, 'k', 'auto-created']]);
  });

  it('producer with allowAutoTopicCreation: false does not create it -> UNKNOWN_TOPIC_OR_PARTITION', T, async () => {
    const topic = W.uniqueTopic('no-auto');
    await withProducer(kafka, { allowAutoTopicCreation: false, retry: NEGATIVE_RETRY }, (p) =>
      W.expectRejectType(p.send({ topic, acks: -1, messages: [{ value: 'x' }] }), 'UNKNOWN_TOPIC_OR_PARTITION'));
    assert.ok(!(await admin.listTopics()).includes(topic), 'Metadata with allow_auto_topic_creation=false must not create');
  });
});

describe('--auto-create-topics false', () => {
  let broker, kafka, admin;
  before(async () => {
    broker = await W.startBroker(['--auto-create-topics', 'false']);
    kafka = W.makeKafka(broker.bootstrap);
    admin = kafka.admin();
    await admin.connect();
  }, HOOK);
  after(async () => {
    W.dumpApiVersions('autocreate-off');
    if (admin) await admin.disconnect().catch(() => {});
    if (broker) await broker.stop();
  }, HOOK);

  it('send to an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION and creates nothing', T, async () => {
    const topic = W.uniqueTopic('unknown');
    await withProducer(kafka, { allowAutoTopicCreation: true, retry: NEGATIVE_RETRY }, (p) =>
      W.expectRejectType(p.send({ topic, acks: -1, messages: [{ value: 'x' }] }), 'UNKNOWN_TOPIC_OR_PARTITION'));
    assert.ok(!(await admin.listTopics()).includes(topic));

    // explicitly created topics still work on this broker
    const ok = W.uniqueTopic('explicit');
    await admin.createTopics({ topics: [{ topic: ok }] });
    const res = await withProducer(kafka, {}, (p) => p.send({ topic: ok, acks: -1, messages: [{ value: 'fine' }] }));
    assert.equal(res[0].baseOffset, '0');
  });
});
