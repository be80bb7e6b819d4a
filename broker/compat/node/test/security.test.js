'use strict';
// kafkajs against a SASL_SSL listener: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over Node's TLS
// (certificates made with the openssl command line), a consumer group, and a wrong password.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const W = require('../lib/weir');

const T = { timeout: 60_000 };
const HOOK = { timeout: 90_000 };
const USER = 'alice';
const PASSWORD = 'alice-secret';

function makePki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-node-pki-'));
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=weir-test-ca');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'broker.key', '-out', 'broker.csr', '-subj', '/CN=localhost');
  fs.writeFileSync(path.join(dir, 'broker.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'broker.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'broker.pem', '-days', '2', '-extfile', 'broker.ext');
  return dir;
}

/** Whether `err` or anything it wraps is named `name`. */
function hasName(err, name, seen = new Set()) {
  if (!err || typeof err !== 'object' || seen.has(err)) return false;
  seen.add(err);
  if (err.name === name) return true;
  return [err.cause, err.originalError, ...(Array.isArray(err.errors) ? err.errors : [])].some((k) =>
    hasName(k, name, seen),
  );
}

describe('kafkajs over SASL_SSL', () => {
  let broker, pki;

  before(async () => {
    pki = makePki();
    broker = await W.startBroker([
      '--security-protocol', 'SASL_SSL', '--sasl-users', `${USER}:${PASSWORD}`,
      '--tls-cert-file', path.join(pki, 'broker.pem'), '--tls-key-file', path.join(pki, 'broker.key'),
    ]);
  }, HOOK);

  after(async () => {
    if (broker) await broker.stop();
    if (pki) fs.rmSync(pki, { recursive: true, force: true });
  }, HOOK);

  const kafkaFor = (mechanism, password = PASSWORD) =>
    W.makeKafka(broker.bootstrap, {
      ssl: { ca: [fs.readFileSync(path.join(pki, 'ca.pem'), 'utf8')] },
      sasl: { mechanism, username: USER, password },
    });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
    it(`${mechanism}: admin, produce and a consumer group`, T, async () => {
      const kafka = kafkaFor(mechanism);
      const topic = W.uniqueTopic(`sec-${mechanism}`);
      const admin = kafka.admin();
      await admin.connect();
      try {
        assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] }), true);
      } finally {
        await admin.disconnect();
      }
      const producer = W.makeProducer(kafka);
      await producer.connect();
      try {
        await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) });
      } finally {
        await producer.disconnect();
      }
      const consumer = kafka.consumer({ groupId: `g-${topic}` });
      await consumer.connect();
      const got = [];
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        await consumer.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()); } });
        await W.waitFor(() => got.length >= 10, { timeoutMs: 30_000, what: '10 messages' });
      } finally {
        await consumer.disconnect();
      }
      assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
    });
  }

  it('a wrong password is a KafkaJSSASLAuthenticationError', T, async () => {
    for (const mechanism of ['plain', 'scram-sha-512']) {
      const admin = kafkaFor(mechanism, 'wrong').admin();
      await assert.rejects(admin.connect(), (err) => {
        assert.ok(hasName(err, 'KafkaJSSASLAuthenticationError'), W.describeError(err));
        assert.match(W.describeError(err), /Authentication failed/);
        return true;
      });
    }
  });
});
