'use strict';
// Shared helpers for the Weir kafkajs compatibility suite:
//  - start/stop a fresh Weir broker (one per test file) on a fresh temp data dir
//  - kafkajs client factory with bounded retries and a log collector that
//    records every Kafka API + version kafkajs actually sent
//  - kcat-based reader used to verify produced content (kafkajs has no
//    group-less consumer, and the broker has no consumer groups yet)
//  - small utilities (error-type search through kafkajs wrapper errors, bounded polling)

const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Kafka, logLevel, CompressionCodecs, CompressionTypes, Partitioners } = require('kafkajs');

const WEIR_BIN =
  process.env.WEIR_BIN || path.join(os.homedir(), '.cache', 'weir', 'target', 'debug', 'weir');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------- codecs
// gzip is built into kafkajs; snappy/lz4 come from optional plugins. A codec
// whose plugin did not install is reported as unavailable and its test skips.
const codecs = { none: true, gzip: true, snappy: false, lz4: false };
const codecErrors = {};
try {
  const SnappyCodec = require('kafkajs-snappy');
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
  codecs.snappy = true;
} catch (e) {
  codecErrors.snappy = e.message;
}
try {
  let LZ4Codec = require('kafkajs-lz4');
  LZ4Codec = LZ4Codec.default || LZ4Codec;
  const codec = new LZ4Codec().codec;
  codec(); // throws if the native lz4 binding failed to build
  CompressionCodecs[CompressionTypes.LZ4] = codec;
  codecs.lz4 = true;
} catch (e) {
  codecErrors.lz4 = e.message;
}

// ---------------------------------------------------------------- broker
function brokerBinaryExists() {
  try {
    fs.accessSync(WEIR_BIN, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start `weir serve` on ephemeral ports with a fresh data dir.
 * Resolves to { bootstrap, http, dataDir, proc, stderr(), stop(), kill() }.
 */
async function startBroker(extraArgs = [], { dataDir } = {}) {
  if (!brokerBinaryExists()) {
    throw new Error(`weir binary not found or not executable: ${WEIR_BIN} (set WEIR_BIN)`);
  }
  const ownDir = !dataDir;
  dataDir = dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'weir-node-'));
  const args = [
    'serve',
    '--listen', '127.0.0.1:0',
    '--http-listen', '127.0.0.1:0',
    '--data-dir', dataDir,
    ...extraArgs,
  ];
  const proc = spawn(WEIR_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderrBuf = '';
  let stdoutBuf = '';
  proc.stderr.on('data', (d) => {
    stderrBuf += d.toString();
    if (stderrBuf.length > 2_000_000) stderrBuf = stderrBuf.slice(-1_000_000);
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));

  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`weir did not print its ready line within ${READY_TIMEOUT_MS} ms\n` +
        `stdout:\n${stdoutBuf}\nstderr:\n${stderrBuf.slice(-5000)}`));
    }, READY_TIMEOUT_MS);
    proc.stdout.on('data', (d) => {
      stdoutBuf += d.toString();
      const m = /weir ready: .*kafka=(\S+).*http=(\S+)/.exec(stdoutBuf);
      if (m) {
        clearTimeout(timer);
        resolve({ bootstrap: m[1], http: m[2] });
      }
    });
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`weir exited before ready (code=${code} signal=${signal})\n` +
        `stdout:\n${stdoutBuf}\nstderr:\n${stderrBuf.slice(-5000)}`));
    });
  });
  // keep draining stdout so the pipe never fills
  proc.stdout.on('data', () => {});

  let exitInfo = null;
  const waitExit = async (ms) => {
    let timer;
    const r = await Promise.race([exited, new Promise((res) => { timer = setTimeout(() => res(null), ms); })]);
    clearTimeout(timer);
    if (r) exitInfo = r;
    return r;
  };

  return {
    ...ready,
    dataDir,
    proc,
    args,
    stderr: () => stderrBuf,
    exitInfo: () => exitInfo,
    /** SIGTERM, wait (bounded), SIGKILL as last resort; removes the data dir we created. */
    async stop({ keepData = false } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        if (!(await waitExit(STOP_TIMEOUT_MS))) {
          proc.kill('SIGKILL');
          await waitExit(5000);
          exitInfo = { ...(exitInfo || {}), forcedKill: true };
        }
      } else {
        exitInfo = exitInfo || { code: proc.exitCode, signal: proc.signalCode };
      }
      if (ownDir && !keepData) fs.rmSync(dataDir, { recursive: true, force: true });
      console.log(`# weir stopped: ${JSON.stringify(exitInfo)}`);
      return exitInfo;
    },
  };
}

// ---------------------------------------------------------------- kafkajs
// Every kafkajs request is logged at debug level as
// "Request <ApiName>(key: N, version: V)"; we record them to document which
// API versions this client negotiated against Weir.
const apiVersionsSeen = new Map(); // "ApiName v" -> count
const errorLogs = [];
function logCreator() {
  return ({ level, log }) => {
    const m = /^Request (\w+)\(key: (\d+), version: (\d+)\)/.exec(log.message || '');
    if (m) {
      const k = `${m[1]}(key ${m[2]}) v${m[3]}`;
      apiVersionsSeen.set(k, (apiVersionsSeen.get(k) || 0) + 1);
    }
    if (level === logLevel.ERROR) {
      errorLogs.push(`${log.namespace}: ${log.message} ${log.error || ''}`);
      if (errorLogs.length > 500) errorLogs.shift();
    }
    if (process.env.WEIR_KAFKAJS_LOG === '1' && level <= logLevel.INFO) {
      console.error(`[kafkajs ${log.namespace}] ${log.message}`, log.error || '');
    }
  };
}

/** Bounded retries so failures surface quickly instead of after kafkajs' long defaults. */
const FAST_RETRY = { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 };

function makeKafka(bootstrap, { clientId = 'weir-compat-node', retry = FAST_RETRY, sasl, ssl } = {}) {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    ...(sasl ? { sasl } : {}),
    ...(ssl ? { ssl } : {}),
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry,
    logLevel: logLevel.DEBUG,
    logCreator,
  });
}

function makeProducer(kafka, opts = {}) {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: false,
    allowAutoTopicCreation: false,
    ...opts,
  });
}

function dumpApiVersions(label) {
  if (apiVersionsSeen.size === 0) return;
  const lines = [...apiVersionsSeen.keys()].sort();
  console.log(`# kafkajs API versions used (${label}): ${lines.join(', ')}`);
  const out = process.env.WEIR_API_VERSIONS_OUT;
  if (out) {
    fs.appendFileSync(out, lines.map((l) => `${label}\t${l}\n`).join(''));
  }
}

// ---------------------------------------------------------------- kcat
const KCAT = process.env.KCAT || 'kcat';

/**
 * Read a whole partition from the beginning with kcat (group-less consumer,
 * librdkafka), returning parsed records:
 *   { topic, partition, offset, ts, tstype, key, payload, headers: [[k, v], ...] }
 */
function kcatRead(bootstrap, topic, partition, { timeoutMs = 30_000 } = {}) {
  const args = [
    '-b', bootstrap, '-C', '-t', topic, '-p', String(partition),
    '-o', 'beginning', '-e', '-J', '-q',
    '-X', 'topic.metadata.refresh.interval.ms=1000',
  ];
  return new Promise((resolve, reject) => {
    execFile(KCAT, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`kcat ${args.join(' ')} failed: ${err.message}\nstderr: ${stderr}`));
        return;
      }
      const recs = [];
      for (const line of stdout.split('\n')) {
        const t = line.trim();
        if (!t.startsWith('{')) continue;
        const r = JSON.parse(t);
        const h = Array.isArray(r.headers) ? r.headers : [];
        const headers = [];
        for (let i = 0; i + 1 < h.length; i += 2) headers.push([h[i], h[i + 1]]);
        recs.push({ ...r, headers });
      }
      resolve(recs);
    });
  });
}

// ---------------------------------------------------------------- plugins
// WebAssembly plugin components built by scripts/build-plugins.sh (run.sh runs it).
const PLUGINS_DIR =
  process.env.WEIR_PLUGINS_DIR || path.join(os.homedir(), '.cache', 'weir', 'plugins');

function pluginWasm(name) {
  const file = path.join(PLUGINS_DIR, `${name}.wasm`);
  if (!fs.existsSync(file)) {
    throw new Error(`plugin component ${file} is missing: run scripts/build-plugins.sh ${name} (run.sh does it)`);
  }
  return fs.readFileSync(file);
}

/** One request to the broker's HTTP API: { status, body } (body parsed as JSON when there is one). */
async function httpJson(broker, method, urlPath, body) {
  const res = await fetch(`http://${broker.http}${urlPath}`, { method, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/**
 * PUT /v1/plugins/<name> with <wasmName || name>.wasm. `params`: query parameters (timeout_ms,
 * memory_mb); `config`: the plugin's deploy-time configuration. Resolves to the plugin's metadata.
 */
async function deployPlugin(broker, name, { wasmName, version = '1.0.0', params = {}, config = {} } = {}) {
  const q = new URLSearchParams({ version, ...params });
  for (const [k, v] of Object.entries(config)) q.append(`config.${k}`, v);
  const { status, body } = await httpJson(broker, 'PUT',
    `/v1/plugins/${encodeURIComponent(name)}?${q}`, pluginWasm(wasmName || name));
  if (status !== 201) throw new Error(`deploying plugin ${name}: HTTP ${status} ${JSON.stringify(body)}`);
  return body;
}

// ---------------------------------------------------------------- utils
/** Depth-first search of an error and everything it wraps for a kafkajs error `type`. */
function findErrorType(err, type, seen = new Set()) {
  if (!err || typeof err !== 'object' || seen.has(err)) return false;
  seen.add(err);
  if (err.type === type) return true;
  const kids = [err.cause, err.originalError, ...(Array.isArray(err.errors) ? err.errors : [])];
  if (Array.isArray(err.partitions)) for (const p of err.partitions) kids.push(p && p.error);
  return kids.some((k) => findErrorType(k, type, seen));
}

/** Describe an error chain for assertion messages. */
function describeError(err, depth = 0) {
  if (!err || depth > 5) return '';
  let s = `${err.name}${err.type ? `[${err.type}]` : ''}: ${err.message}`;
  const kids = [err.cause, err.originalError, ...(Array.isArray(err.errors) ? err.errors : [])].filter(Boolean);
  for (const k of kids) s += `\n${'  '.repeat(depth + 1)}<- ${describeError(k, depth + 1)}`;
  return s;
}

async function expectRejectType(promise, type) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  if (!err) throw new Error(`expected an error of type ${type}, but the call succeeded`);
  if (!findErrorType(err, type)) {
    throw new Error(`expected error type ${type}, got:\n${describeError(err)}`);
  }
  return err;
}

/** Poll fn() until it returns a truthy value, bounded by timeoutMs. */
async function waitFor(fn, { timeoutMs = 15_000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

let topicCounter = 0;
function uniqueTopic(prefix) {
  topicCounter += 1;
  return `${prefix}-${process.pid}-${topicCounter}`;
}

module.exports = {
  WEIR_BIN,
  brokerBinaryExists,
  startBroker,
  makeKafka,
  makeProducer,
  FAST_RETRY,
  codecs,
  codecErrors,
  kcatRead,
  findErrorType,
  describeError,
  expectRejectType,
  waitFor,
  uniqueTopic,
  dumpApiVersions,
  errorLogs,
  PLUGINS_DIR,
  pluginWasm,
  httpJson,
  deployPlugin,
};
