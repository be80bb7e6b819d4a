'use strict';
// Loads the native addon (weir.node, built by build.js) and turns its errors into WeirError.

const path = require('node:path');

let native;
try {
  native = require(path.join(__dirname, '..', 'weir.node'));
} catch (e) {
  const err = new Error(
    `@weir/sdk: the native module weir.node is missing or does not load (${e.message}); ` +
      'build it with `npm run build` (needs Rust: https://rustup.rs)',
  );
  err.cause = e;
  throw err;
}

const PREFIX = 'WEIR_ERROR:';

/**
 * An error from Weir or the SDK. `code` is stable: UNKNOWN_TOPIC, UNKNOWN_PARTITION, REJECTED,
 * NOT_AUTHORIZED, RECORD_TOO_LARGE, UNREACHABLE, TIMEOUT, CANCELLED, GROUP_NOT_EMPTY, CONFIG,
 * API, WRITE, PAYLOAD, CLOSED or KAFKA. Rejections carry `topic` and `reason`; WRITE carries
 * `failed` (one WeirError per failed message, with its `index`).
 */
class WeirError extends Error {
  constructor(info, options) {
    super(info.message, options);
    this.name = 'WeirError';
    this.code = info.code;
    this.retriable = Boolean(info.retriable);
    for (const k of ['topic', 'partition', 'reason', 'groupId', 'status', 'kafkaCode', 'total', 'index']) {
      if (info[k] !== undefined) this[k] = info[k];
    }
    if (Array.isArray(info.failed)) this.failed = info.failed.map((f) => new WeirError(f));
  }
}

/** A native error as a WeirError (other errors pass through). */
function convert(e) {
  if (e && typeof e.message === 'string' && e.message.startsWith(PREFIX)) {
    let info;
    try {
      info = JSON.parse(e.message.slice(PREFIX.length));
    } catch {
      return e;
    }
    const w = new WeirError(info);
    // Keep the caller's stack rather than the native boundary's.
    return w;
  }
  return e;
}

/** Calls `fn`, rethrowing native errors as WeirError (sync or async). */
function call(fn) {
  let r;
  try {
    r = fn();
  } catch (e) {
    throw convert(e);
  }
  if (r && typeof r.then === 'function') {
    return r.then(undefined, (e) => {
      throw convert(e);
    });
  }
  return r;
}

function configError(message) {
  return new WeirError({ code: 'CONFIG', message: `invalid configuration: ${message}` });
}

module.exports = { native, WeirError, call, configError };
