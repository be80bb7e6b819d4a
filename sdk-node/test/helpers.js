'use strict';
// Shared by the tests: one real Weir broker per test file (`weir serve` on ephemeral ports and
// a fresh data dir), unique names, polling.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const TARGET = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'weir', 'target');
const WEIR_BIN = process.env.WEIR_BIN || path.join(TARGET, 'debug', 'weir');
const PLUGINS_DIR = process.env.WEIR_PLUGINS_DIR || path.join(os.homedir(), '.cache', 'weir', 'plugins');

/** Starts a broker; resolves to {brokers, http, adminUrl, stop()}. */
async function startBroker() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-sdk-node-'));
  const proc = spawn(
    WEIR_BIN,
    ['serve', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--data-dir', dataDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`weir did not print its ready line in 60 s:\n${out.slice(-4000)}`));
    }, 60_000);
    const onData = (d) => {
      out += d.toString();
      if (out.length > 1_000_000) out = out.slice(-500_000);
      const m = /weir ready: .*kafka=(\S+).*http=(\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ kafka: m[1], http: m[2] });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`weir exited (${code}) before ready:\n${out.slice(-4000)}`));
    });
  });
  return {
    brokers: ready.kafka,
    http: ready.http,
    adminUrl: `http://${ready.http}`,
    log: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A name no other test uses: `prefix-<pid>-<n>-<random>`. */
function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 7)}`;
}

async function waitFor(fn, { timeoutMs = 30_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function pluginWasm(name) {
  const file = path.join(PLUGINS_DIR, `${name}.wasm`);
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: run scripts/build-plugins.sh ${name} (run-tests.sh does)`);
  }
  return file;
}

/** Resolves to the error `promise` rejects with; fails if it resolves. */
async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

module.exports = { startBroker, unique, waitFor, pluginWasm, rejection, WEIR_BIN };
