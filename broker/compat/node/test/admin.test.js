'use strict';
// Admin API compatibility: kafkajs admin client -> Weir.
// The broker runs with --auto-create-topics false so that no metadata request
// can create a topic behind the test's back (validateOnly / deleteTopics checks).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { ConfigResourceTypes } = require('kafkajs');
const W = require('../lib/weir');

const T = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };

describe('kafkajs admin -> Weir', () => {
  let broker, kafka, admin, producer;

  before(async () => {
    broker = await W.startBroker(['--auto-create-topics', 'false']);
    kafka = W.makeKafka(broker.bootstrap);
    admin = kafka.admin();
    await admin.connect();
    producer = W.makeProducer(kafka);
    await producer.connect();
  }, HOOK);

  after(async () => {
    W.dumpApiVersions('admin');
    if (producer) await producer.disconnect().catch(() => {});
    if (admin) await admin.disconnect().catch(() => {});
    if (broker) await broker.stop();
  }, HOOK);

  /** A throw-away admin client for calls that would leave an unknown topic in kafkajs' metadata targets. */
  async function withScratchAdmin(fn) {
    const k = W.makeKafka(broker.bootstrap, { clientId: 'weir-compat-node-scratch' });
    const a = k.admin();
    await a.connect();
    try {
      return await fn(a);
    } finally {
      await a.disconnect().catch(() => {});
    }
  }

  async function topicConfig(topic, names) {
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, ...(names ? { configNames: names } : {}) }],
    });
    assert.equal(res.resources.length, 1);
    const r = res.resources[0];
    assert.equal(r.errorCode, 0, `describeConfigs error for ${topic}: ${r.errorMessage}`);
    assert.equal(r.resourceType, ConfigResourceTypes.TOPIC);
    assert.equal(r.resourceName, topic);
    return Object.fromEntries(r.configEntries.map((e) => [e.configName, e]));
  }

  it('createTopics with numPartitions and configEntries; fetchTopicMetadata; listTopics', T, async () => {
    const topic = W.uniqueTopic('created');
    const created = await admin.createTopics({
      topics: [{
        topic,
        numPartitions: 4,
        configEntries: [
          { name: 'retention.ms', value: '3600000' },
          { name: 'cleanup.policy', value: 'delete' },
          { name: 'segment.bytes', value: '1048576' },
        ],
      }],
    });
    assert.equal(created, true);

    assert.ok((await admin.listTopics()).includes(topic), 'listTopics includes the new topic');

    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(md.topics.length, 1);
    assert.equal(md.topics[0].name, topic);
    const parts = [...md.topics[0].partitions].sort((a, b) => a.partitionId - b.partitionId);
    assert.deepEqual(parts.map((p) => p.partitionId), [0, 1, 2, 3]);
    for (const p of parts) {
      assert.equal(p.partitionErrorCode, 0);
      assert.equal(p.leader, 1, 'leader is node 1');
      assert.deepEqual(p.replicas, [1]);
      assert.deepEqual(p.isr, [1]);
    }

    const cfg = await topicConfig(topic);
    assert.equal(cfg['retention.ms']?.configValue, '3600000');
    assert.equal(cfg['retention.ms'].isDefault, false, 'retention.ms is an override');
    assert.equal(cfg['cleanup.policy']?.configValue, 'delete');
    assert.equal(cfg['segment.bytes']?.configValue, '1048576');
  });

  it('createTopics validateOnly=true does not create the topic', T, async () => {
    const topic = W.uniqueTopic('validate-only');
    const res = await admin.createTopics({
      validateOnly: true,
      waitForLeaders: false,
      topics: [{ topic, numPartitions: 2 }],
    });
    assert.equal(res, true, 'validation passes');
    assert.ok(!(await admin.listTopics()).includes(topic), 'validateOnly must not create the topic');

    // validateOnly still validates: a bad config is rejected.
    await W.expectRejectType(
      admin.createTopics({
        validateOnly: true,
        waitForLeaders: false,
        topics: [{ topic, configEntries: [{ name: 'no.such.config', value: '1' }] }],
      }),
      'INVALID_CONFIG',
    );
    assert.ok(!(await admin.listTopics()).includes(topic));
  });

  it('duplicate createTopics -> TOPIC_ALREADY_EXISTS (kafkajs resolves false) and changes nothing', T, async () => {
    const topic = W.uniqueTopic('dup');
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }), true);
    // kafkajs resolves `false` iff every per-topic error in the CreateTopics
    // response is TOPIC_ALREADY_EXISTS (code 36); any other error code rejects.
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 5 }] }), false);
    assert.equal(
      await admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic }] }),
      false,
      'validateOnly create of an existing topic also reports TOPIC_ALREADY_EXISTS',
    );
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(md.topics[0].partitions.length, 2, 'partition count unchanged by the duplicate create');
  });

  it('invalid topic names -> INVALID_TOPIC_EXCEPTION', T, async () => {
    for (const bad of ['bad name!', '..', 'a'.repeat(250), 'slash/topic']) {
      await W.expectRejectType(
        admin.createTopics({ topics: [{ topic: bad }], waitForLeaders: false }),
        'INVALID_TOPIC_EXCEPTION',
      );
    }
    const topics = await admin.listTopics();
    assert.ok(!topics.includes('bad name!') && !topics.includes('..') && !topics.includes('slash/topic'));
  });

  it('unknown topic config name -> INVALID_CONFIG', T, async () => {
    const topic = W.uniqueTopic('badcfg');
    await W.expectRejectType(
      admin.createTopics({ topics: [{ topic, configEntries: [{ name: 'no.such.config', value: 'x' }] }] }),
      'INVALID_CONFIG',
    );
    assert.ok(!(await admin.listTopics()).includes(topic));
  });

  it('createPartitions grows a topic; new partitions are writable; shrinking is rejected', T, async () => {
    const topic = W.uniqueTopic('grow');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }] });

    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    const ids = md.topics[0].partitions.map((p) => p.partitionId).sort();
    assert.deepEqual(ids, [0, 1, 2, 3, 4]);
    for (const p of md.topics[0].partitions) assert.equal(p.leader, 1);

    const offs = await admin.fetchTopicOffsets(topic);
    assert.equal(offs.length, 5);

    // producer must see the new partitions
    const p = W.makeProducer(kafka);
    await p.connect();
    try {
      const res = await p.send({ topic, acks: -1, messages: [{ partition: 4, key: 'k', value: 'in-new-partition' }] });
      assert.equal(res[0].partition, 4);
      assert.equal(res[0].baseOffset, '0');
    } finally {
      await p.disconnect();
    }
    const recs = await W.kcatRead(broker.bootstrap, topic, 4);
    assert.deepEqual(recs.map((r) => r.payload), ['in-new-partition']);

    await W.expectRejectType(
      admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }),
      'INVALID_PARTITIONS',
    );
    const md2 = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(md2.topics[0].partitions.length, 5);
  });

  it('describeConfigs / alterConfigs on a topic (retention.ms)', T, async () => {
    const topic = W.uniqueTopic('cfg');
    await admin.createTopics({ topics: [{ topic, configEntries: [{ name: 'retention.ms', value: '86400000' }] }] });

    let cfg = await topicConfig(topic, ['retention.ms']);
    assert.deepEqual(Object.keys(cfg), ['retention.ms'], 'configNames filter returns only the asked config');
    assert.equal(cfg['retention.ms'].configValue, '86400000');

    // validateOnly alter does not change anything
    await admin.alterConfigs({
      validateOnly: true,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '1000' }] }],
    });
    cfg = await topicConfig(topic, ['retention.ms']);
    assert.equal(cfg['retention.ms'].configValue, '86400000');

    const res = await admin.alterConfigs({
      validateOnly: false,
      resources: [{
        type: ConfigResourceTypes.TOPIC,
        name: topic,
        configEntries: [
          { name: 'retention.ms', value: '123456789' },
          { name: 'max.message.bytes', value: '2048' },
        ],
      }],
    });
    assert.equal(res.resources.length, 1);
    assert.equal(res.resources[0].errorCode, 0);
    assert.equal(res.resources[0].resourceName, topic);

    cfg = await topicConfig(topic);
    assert.equal(cfg['retention.ms'].configValue, '123456789');
    assert.equal(cfg['retention.ms'].isDefault, false);
    assert.equal(cfg['max.message.bytes'].configValue, '2048');
    assert.equal(cfg['max.message.bytes'].isDefault, false);
  });

  it('alterConfigs (non-incremental) replaces the topic override set, as in Kafka', T, async () => {
    const topic = W.uniqueTopic('cfg-replace');
    await admin.createTopics({
      topics: [{
        topic,
        configEntries: [
          { name: 'retention.ms', value: '3600000' },
          { name: 'segment.bytes', value: '1048576' },
        ],
      }],
    });
    await admin.alterConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }],
    });
    const cfg = await topicConfig(topic);
    assert.equal(cfg['retention.ms'].configValue, '7200000');
    // AlterConfigs is a full replacement: segment.bytes was not in the request, so it reverts to default.
    assert.notEqual(cfg['segment.bytes']?.configValue, '1048576', 'segment.bytes override should be removed');
    assert.equal(cfg['segment.bytes']?.isDefault, true);
  });

  it('alterConfigs with an unknown config name -> INVALID_CONFIG', T, async () => {
    const topic = W.uniqueTopic('cfg-bad');
    await admin.createTopics({ topics: [{ topic }] });
    await W.expectRejectType(
      admin.alterConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'no.such.config', value: '1' }] }],
      }),
      'INVALID_CONFIG',
    );
  });

  it('fetchTopicOffsets reports low/high watermarks per partition', T, async () => {
    const topic = W.uniqueTopic('offsets');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    let offs = await admin.fetchTopicOffsets(topic);
    assert.deepEqual(
      offs.map(({ partition, offset, high, low }) => ({ partition, offset, high, low })).sort((a, b) => a.partition - b.partition),
      [{ partition: 0, offset: '0', high: '0', low: '0' }, { partition: 1, offset: '0', high: '0', low: '0' }],
    );
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { partition: 0, value: 'a' }, { partition: 0, value: 'b' }, { partition: 0, value: 'c' },
        { partition: 1, value: 'd' },
      ],
    });
    offs = await admin.fetchTopicOffsets(topic);
    assert.deepEqual(
      offs.map(({ partition, offset, high, low }) => ({ partition, offset, high, low })).sort((a, b) => a.partition - b.partition),
      [{ partition: 0, offset: '3', high: '3', low: '0' }, { partition: 1, offset: '1', high: '1', low: '0' }],
    );
  });

  it('deleteTopicRecords moves the log start offset', T, async () => {
    const topic = W.uniqueTopic('delrec');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });

    // kafkajs quirk: deleteTopicRecords looks up partition leaders in its cached
    // metadata *before* refreshing it, so the topic must already be known to the client.
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] });
    let [o] = await admin.fetchTopicOffsets(topic);
    assert.equal(o.low, '4');
    assert.equal(o.high, '10');

    const recs = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(recs.map((r) => [r.offset, r.payload]), [4, 5, 6, 7, 8, 9].map((i) => [i, `v${i}`]));

    // offset -1 means "up to the high watermark"
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '-1' }] });
    [o] = await admin.fetchTopicOffsets(topic);
    assert.equal(o.low, '10');
    assert.equal(o.high, '10');

    // appends continue at the old high watermark
    const res = await producer.send({ topic, acks: -1, messages: [{ value: 'after' }] });
    assert.equal(res[0].baseOffset, '10');
    const recs2 = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(recs2.map((r) => [r.offset, r.payload]), [[10, 'after']]);
  });

  it('fetchTopicOffsetsByTimestamp with explicit CreateTime timestamps', T, async () => {
    const topic = W.uniqueTopic('bytime');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'a', value: 'one', timestamp: '1000' },
        { key: 'b', value: 'two', timestamp: '2000' },
        { key: 'c', value: 'three', timestamp: '3000' },
      ],
    });
    const lookup = async (ts) => {
      const r = await admin.fetchTopicOffsetsByTimestamp(topic, ts);
      assert.equal(r.length, 1);
      assert.equal(r[0].partition, 0);
      return r[0].offset;
    };
    assert.equal(await lookup(2000), '1', 'exact timestamp 2000 -> offset 1');
    assert.equal(await lookup(1500), '1', 'first offset with timestamp >= 1500');
    assert.equal(await lookup(500), '0');
    assert.equal(await lookup(3000), '2');
    // no record at/after 3001: broker answers -1, kafkajs substitutes the high watermark
    assert.equal(await lookup(3001), '3');

    const recs = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(recs.map((r) => [r.offset, r.ts]), [[0, 1000], [1, 2000], [2, 3000]]);
  });

  it('describeCluster: one broker (node 1) at the bootstrap address, with a clusterId', T, async () => {
    const c = await admin.describeCluster();
    assert.equal(c.brokers.length, 1);
    const [host, port] = broker.bootstrap.split(':');
    assert.deepEqual(c.brokers[0], { nodeId: 1, host, port: Number(port) });
    assert.equal(c.controller, 1);
    assert.equal(typeof c.clusterId, 'string');
    assert.ok(c.clusterId.length > 0, 'clusterId is non-empty');
    // stable across calls
    assert.equal((await admin.describeCluster()).clusterId, c.clusterId);
  });

  it('deleteTopics removes the topic; deleting an unknown topic -> UNKNOWN_TOPIC_OR_PARTITION', T, async () => {
    const topic = W.uniqueTopic('doomed');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await producer.send({ topic, acks: -1, messages: [{ value: 'x' }] });
    assert.ok((await admin.listTopics()).includes(topic));

    await admin.deleteTopics({ topics: [topic] });
    await W.waitFor(async () => !(await admin.listTopics()).includes(topic), {
      what: `${topic} to disappear from listTopics`,
    });

    await withScratchAdmin(async (a) => {
      await W.expectRejectType(a.fetchTopicMetadata({ topics: [topic] }), 'UNKNOWN_TOPIC_OR_PARTITION');
    });
    await withScratchAdmin(async (a) => {
      await W.expectRejectType(a.deleteTopics({ topics: [W.uniqueTopic('never-existed')] }), 'UNKNOWN_TOPIC_OR_PARTITION');
    });

    // the name can be reused, and the new topic starts empty
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] }), true);
    const offs = await admin.fetchTopicOffsets(topic);
    assert.deepEqual(offs.map((o) => [o.partition, o.low, o.high]), [[0, '0', '0']]);
  });
});
