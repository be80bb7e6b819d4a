'use strict';
// WebAssembly plugins on topics, through kafkajs: plugins are deployed over the broker's HTTP API
// (PUT /v1/plugins/<name>, components from scripts/build-plugins.sh); attaching them, policies and
// per-topic plugin config are ordinary topic configs set with the kafkajs admin client.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { ConfigResourceTypes } = require('kafkajs');
const W = require('../lib/weir');

const T = { timeout: 90_000 };
const HOOK = { timeout: 120_000 };

// kafkajs' own description of error 87. kafkajs 2.2.4 speaks Produce v7, whose response has no
// error_message / record_errors (those came with v8, KIP-467), so the plugin's reason cannot reach
// it: this text is all a kafkajs producer sees.
const KAFKAJS_INVALID_RECORD_TEXT = 'This record has failed the validation on broker and hence be rejected';

describe('kafkajs -> Weir topics with WebAssembly plugins', () => {
  let broker, kafka, admin, producer;

  before(async () => {
    broker = await W.startBroker(['--group-initial-rebalance-delay-ms', '0']);
    await W.deployPlugin(broker, 'guard', { wasmName: 'rejecter' });
    for (const name of ['rejecter', 'tagger', 'pii-redact']) await W.deployPlugin(broker, name);
    kafka = W.makeKafka(broker.bootstrap);
    admin = kafka.admin();
    await admin.connect();
    producer = W.makeProducer(kafka);
    await producer.connect();
  }, HOOK);

  after(async () => {
    W.dumpApiVersions('plugins');
    if (producer) await producer.disconnect().catch(() => {});
    if (admin) await admin.disconnect().catch(() => {});
    if (broker) await broker.stop();
  }, HOOK);

  async function topicConfig(topic, names) {
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: names }],
    });
    const [r] = res.resources;
    assert.equal(r.errorCode, 0, `describeConfigs error for ${topic}: ${r.errorMessage}`);
    return Object.fromEntries(r.configEntries.map((e) => [e.configName, e]));
  }

  const high = async (topic) => Number((await admin.fetchTopicOffsets(topic))[0].high);

  /** Reads `n` records of `topic` with a kafkajs group consumer (eachMessage), from the beginning. */
  async function consume(topic, n) {
    const consumer = kafka.consumer({
      groupId: W.uniqueTopic('plugins-group'), sessionTimeout: 10_000, heartbeatInterval: 1000,
      maxWaitTimeInMs: 300,
    });
    const got = [];
    let crash = null;
    consumer.on(consumer.events.CRASH, (e) => { crash = e.payload && e.payload.error; });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({ eachMessage: async ({ partition, message }) => { got.push({ partition, ...message }); } });
      await W.waitFor(() => got.length >= n, {
        timeoutMs: 60_000,
        what: `${n} records of ${topic} (got ${got.length}${crash ? `; crash: ${W.describeError(crash)}` : ''})`,
      });
      // Nothing more than expected arrives.
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(got.length, n, `consumed ${got.length} records of ${topic}, expected ${n}`);
      return got;
    } finally {
      await consumer.disconnect().catch(() => {});
    }
  }

  const str = (b) => (b == null ? b : b.toString());
  const headerStrings = (h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, str(v)]));

  it('producer.send to a topic with a rejecting plugin -> KafkaJSProtocolError INVALID_RECORD', T, async () => {
    const topic = W.uniqueTopic('guarded');
    assert.equal(await admin.createTopics({
      topics: [{ topic, configEntries: [{ name: 'weir.plugins', value: 'guard' }] }],
    }), true);

    const err = await W.expectRejectType(
      producer.send({ topic, acks: -1, messages: [{ value: 'good 1' }, { value: 'a bad one' }, { value: 'good 2' }] }),
      'INVALID_RECORD',
    );
    // Not wrapped: the protocol error itself, non-retriable, with kafkajs' text for the code.
    assert.equal(err.name, 'KafkaJSProtocolError');
    assert.equal(err.type, 'INVALID_RECORD');
    assert.equal(err.code, 87);
    assert.equal(err.retriable, false);
    assert.equal(err.message, KAFKAJS_INVALID_RECORD_TEXT);
    assert.equal(await high(topic), 0, 'nothing of the rejected batch is appended');

    // The same producer keeps working.
    const [r] = await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'good 3' }] });
    assert.equal(r.errorCode, 0);
    assert.equal(r.baseOffset, '0');
    const recs = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(recs.map((x) => [x.offset, x.key, x.payload]), [[0, 'k', 'good 3']]);
  });

  it('createTopics with configEntries weir.plugins; describeConfigs; the transform is what a kafkajs consumer reads', T, async () => {
    const topic = W.uniqueTopic('tagged');
    assert.equal(await admin.createTopics({
      topics: [{
        topic,
        configEntries: [
          { name: 'weir.plugins', value: 'pii-redact,tagger' },
          { name: 'weir.plugin.tagger.tag', value: 'v7' },
        ],
      }],
    }), true);

    const cfg = await topicConfig(topic, ['weir.plugins', 'weir.plugin.tagger.tag', 'weir.plugins.reject.policy']);
    assert.equal(cfg['weir.plugins']?.configValue, 'pii-redact,tagger');
    assert.equal(cfg['weir.plugins'].isDefault, false);
    assert.equal(cfg['weir.plugins'].configSource, 1, 'DYNAMIC_TOPIC_CONFIG');
    assert.equal(cfg['weir.plugin.tagger.tag']?.configValue, 'v7');
    assert.equal(cfg['weir.plugin.tagger.tag'].isDefault, false);
    assert.equal(cfg['weir.plugins.reject.policy']?.configValue, 'fail');
    assert.equal(cfg['weir.plugins.reject.policy'].isDefault, true);

    const [r] = await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'a', value: 'mail jane@example.com please', headers: { own: 'x' } },
        { key: 'b', value: 'card 4111 1111 1111 1111' },
        { key: 'c', value: 'nothing here' },
      ],
    });
    assert.equal(r.baseOffset, '0');

    const got = await consume(topic, 3);
    assert.deepEqual(got.map((m) => [m.partition, m.offset, str(m.key), str(m.value), headerStrings(m.headers)]), [
      [0, '0', 'a', 'mail [REDACTED] please', { own: 'x', 'weir-version': 'v7' }],
      [0, '1', 'b', 'card [REDACTED]', { 'weir-version': 'v7' }],
      [0, '2', 'c', 'nothing here', { 'weir-version': 'v7' }],
    ]);
    // librdkafka (kcat) reads the same bytes.
    const recs = await W.kcatRead(broker.bootstrap, topic, 0);
    assert.deepEqual(recs.map((x) => [x.payload, x.headers]), [
      ['mail [REDACTED] please', [['own', 'x'], ['weir-version', 'v7']]],
      ['card [REDACTED]', [['weir-version', 'v7']]],
      ['nothing here', [['weir-version', 'v7']]],
    ]);
  });

  it('dead-letter policy set with admin.alterConfigs; a kafkajs consumer reads the DLQ and its headers', T, async () => {
    const topic = W.uniqueTopic('dlq-src');
    const dlq = W.uniqueTopic('dlq-custom');
    assert.equal(await admin.createTopics({
      topics: [{ topic, configEntries: [{ name: 'weir.plugins', value: 'rejecter' }] }],
    }), true);
    await W.expectRejectType(producer.send({ topic, acks: -1, messages: [{ value: 'bad' }] }), 'INVALID_RECORD');

    // AlterConfigs (non-incremental) replaces the whole override set: weir.plugins is restated.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{
        type: ConfigResourceTypes.TOPIC,
        name: topic,
        configEntries: [
          { name: 'weir.plugins', value: 'rejecter' },
          { name: 'weir.plugins.reject.policy', value: 'dead-letter' },
          { name: 'weir.dlq.topic', value: dlq },
        ],
      }],
    });
    const cfg = await topicConfig(topic, ['weir.plugins', 'weir.plugins.reject.policy', 'weir.dlq.topic']);
    assert.deepEqual(Object.fromEntries(Object.entries(cfg).map(([k, e]) => [k, [e.configValue, e.isDefault]])), {
      'weir.plugins': ['rejecter', false],
      'weir.plugins.reject.policy': ['dead-letter', false],
      'weir.dlq.topic': [dlq, false],
    });

    const before = Date.now();
    const [r] = await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'g1', value: 'good 1' },
        { key: 'b1', value: 'really bad', headers: { trace: 't-1' }, timestamp: '1600000000000' },
        { key: 'g2', value: 'good 2' },
      ],
    });
    const afterSend = Date.now();
    assert.equal(r.errorCode, 0);
    assert.equal(r.baseOffset, '0');

    // Kept records stay at base offset + position in the batch (what the producer computes);
    // the dead letter leaves a gap at 1, as compaction would, and kafkajs reads across it.
    const kept = await consume(topic, 2);
    assert.deepEqual(kept.map((m) => [m.offset, str(m.key), str(m.value)]), [['0', 'g1', 'good 1'], ['2', 'g2', 'good 2']]);

    const [dead] = await consume(dlq, 1);
    assert.equal(str(dead.key), 'b1');
    assert.equal(str(dead.value), 'really bad');
    assert.equal(dead.timestamp, '1600000000000', 'the dead letter keeps its own timestamp');
    const h = headerStrings(dead.headers);
    const ts = Number(h['weir.dlq.timestamp']);
    assert.ok(ts >= before && ts <= afterSend + 1000, `weir.dlq.timestamp ${h['weir.dlq.timestamp']}`);
    assert.deepEqual(Object.keys(h), [
      'trace', 'weir.dlq.reason', 'weir.dlq.plugin', 'weir.dlq.plugin.version', 'weir.dlq.source.topic',
      'weir.dlq.source.partition', 'weir.dlq.source.offset', 'weir.dlq.timestamp',
    ]);
    assert.deepEqual(h, {
      trace: 't-1',
      'weir.dlq.reason': 'contains forbidden word "bad"',
      'weir.dlq.plugin': 'rejecter',
      'weir.dlq.plugin.version': '1.0.0',
      'weir.dlq.source.topic': topic,
      'weir.dlq.source.partition': '0',
      'weir.dlq.source.offset': '-1',
      'weir.dlq.timestamp': h['weir.dlq.timestamp'],
    });
    assert.ok(!(await admin.listTopics()).includes(`${topic}.dlq`), 'the default DLQ name is not used');

    // The HTTP view of the same dead letter.
    const { status, body } = await W.httpJson(broker, 'GET', `/v1/dlq/${dlq}?offset=0&limit=10`);
    assert.equal(status, 200);
    assert.deepEqual(body.map((d) => [d.key, d.value, d.reason, d.plugin, d.source_topic, d.source_offset]),
      [['b1', 'really bad', 'contains forbidden word "bad"', 'rejecter', topic, -1]]);
  });
});
