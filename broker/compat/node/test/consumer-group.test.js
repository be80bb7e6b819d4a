'use strict';
// kafkajs consumer group round trip: FindCoordinator, JoinGroup, SyncGroup, Heartbeat and
// OffsetCommit/OffsetFetch through kafkajs's own group code.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const W = require('../lib/weir');

test('producer -> consumer.run eachMessage (consumer group)',
  { timeout: 90_000 },
  async () => {
    const broker = await W.startBroker();
    const kafka = W.makeKafka(broker.bootstrap, { retry: { retries: 5, initialRetryTime: 200 } });
    const admin = kafka.admin();
    const producer = W.makeProducer(kafka);
    const consumer = kafka.consumer({
      groupId: W.uniqueTopic('group'),
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: 500,
    });
    try {
      await admin.connect();
      await producer.connect();
      const topic = W.uniqueTopic('grp');
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
      const sent = Array.from({ length: 10 }, (_, i) => ({
        partition: i % 2, key: `k${i}`, value: `v${i}`, headers: { n: String(i) },
      }));
      await producer.send({ topic, acks: -1, messages: sent });

      let lastCrash = null;
      consumer.on(consumer.events.CRASH, (e) => { lastCrash = e.payload && e.payload.error; });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const got = [];
      let done;
      const all = new Promise((resolve) => { done = resolve; });
      await consumer.run({
        eachMessage: async ({ topic: t, partition, message }) => {
          got.push({
            topic: t, partition, offset: message.offset,
            key: message.key && message.key.toString(),
            value: message.value && message.value.toString(),
            n: message.headers.n && message.headers.n.toString(),
          });
          if (got.length >= sent.length) done();
        },
      });
      let timer;
      try {
        await Promise.race([
          all,
          new Promise((_, rej) => {
            timer = setTimeout(() => rej(new Error(`only ${got.length}/10 messages consumed in 60 s` +
              (lastCrash ? `; last consumer crash: ${W.describeError(lastCrash)}` : ''))), 60_000);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
      assert.equal(got.length, 10);
      for (const p of [0, 1]) {
        const mine = got.filter((g) => g.partition === p);
        assert.deepEqual(mine.map((g) => g.offset), ['0', '1', '2', '3', '4']);
        assert.deepEqual(mine.map((g) => g.key), sent.filter((s) => s.partition === p).map((s) => s.key));
        assert.deepEqual(mine.map((g) => g.value), sent.filter((s) => s.partition === p).map((s) => s.value));
        assert.deepEqual(mine.map((g) => g.n), sent.filter((s) => s.partition === p).map((s) => s.headers.n));
      }
    } finally {
      W.dumpApiVersions('consumer-group');
      await consumer.disconnect().catch(() => {});
      await producer.disconnect().catch(() => {});
      await admin.disconnect().catch(() => {});
      await broker.stop();
    }
  });
