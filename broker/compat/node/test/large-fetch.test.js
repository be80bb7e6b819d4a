'use strict';
// Large fetches: Weir sends the records from the page cache with sendfile between encoded parts
// of the response. kafkajs (non-flexible Fetch versions) must read every byte back, from large
// batches and from many one-record batches, with a partition limit that cuts inside the log.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const W = require('../lib/weir');

const BIG = 400;
const SMALL = 600;

function value(partition, i) {
  const size = i < BIG ? 4096 + ((i * 37) % 8192) : 100;
  const seed = `p${partition}-r${i}:${(i * 2654435761).toString(16)}`;
  return seed.repeat(Math.ceil(size / seed.length) + 1).slice(0, size);
}

test('kafkajs reads large fetches byte-exact', { timeout: 120_000 }, async () => {
  const broker = await W.startBroker();
  const kafka = W.makeKafka(broker.bootstrap, { retry: { retries: 5, initialRetryTime: 200 } });
  const admin = kafka.admin();
  const producer = W.makeProducer(kafka);
  const consumer = kafka.consumer({
    groupId: W.uniqueTopic('large-fetch'),
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 150_000,
  });
  try {
    await admin.connect();
    await producer.connect();
    const topic = W.uniqueTopic('large-fetch');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    for (let i = 0; i < BIG; i += 100) {
      const messages = [];
      for (let j = i; j < i + 100; j++) {
        for (const p of [0, 1]) messages.push({ partition: p, value: value(p, j) });
      }
      await producer.send({ topic, acks: 1, messages });
    }
    for (let i = BIG; i < BIG + SMALL; i++) {
      await producer.send({
        topic, acks: 1, messages: [0, 1].map((p) => ({ partition: p, value: value(p, i) })),
      });
    }

    const got = { 0: [], 1: [] };
    let done;
    const all = new Promise((resolve) => { done = resolve; });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got[partition].push([Number(message.offset), message.value.toString()]);
        if (got[0].length + got[1].length >= 2 * (BIG + SMALL)) done();
      },
    });
    let timer;
    try {
      await Promise.race([all, new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(
          `only ${got[0].length}+${got[1].length} of ${2 * (BIG + SMALL)} records in 90 s`)), 90_000);
      })]);
    } finally {
      clearTimeout(timer);
    }
    for (const p of [0, 1]) {
      assert.equal(got[p].length, BIG + SMALL, `partition ${p} record count`);
      got[p].forEach(([offset, v], i) => {
        assert.equal(offset, i, `partition ${p}: offsets in order`);
        assert.ok(v === value(p, i), `partition ${p} offset ${offset}: wrong bytes`);
      });
    }
  } finally {
    W.dumpApiVersions('large-fetch');
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
    await broker.stop();
  }
});
