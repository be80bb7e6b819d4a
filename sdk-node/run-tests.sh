#!/usr/bin/env bash
# @weir/sdk tests: builds the native module (debug) and the broker if missing, installs the
# test dependency (kafkajs, for interop) and runs node's test runner against real brokers.
# Idempotent; rerun freely. Extra arguments go to `node --test` (e.g. --test-name-pattern seek).
# Env: CARGO_TARGET_DIR (default ~/.cache/weir/target), WEIR_BIN (default
# $CARGO_TARGET_DIR/debug/weir), WEIR_PLUGINS_DIR (default ~/.cache/weir/plugins),
# WEIR_SKIP_PLUGIN_BUILD=1 to use the plugins already built.
set -euo pipefail
cd "$(dirname "$0")"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}"
export WEIR_BIN="${WEIR_BIN:-$CARGO_TARGET_DIR/debug/weir}"
export WEIR_PLUGINS_DIR="${WEIR_PLUGINS_DIR:-$HOME/.cache/weir/plugins}"

if [ ! -x "$WEIR_BIN" ]; then
  echo "run-tests.sh: building the broker ($WEIR_BIN)" >&2
  (cd .. && cargo build -p weir)
fi

# The native module: cargo decides what is stale, so this is quick when nothing changed.
node build.js --debug

# The rejecter plugin for the rejection and dead-letter tests (incremental).
if [ "${WEIR_SKIP_PLUGIN_BUILD:-0}" != 1 ] && [ -f ../scripts/build-plugins.sh ]; then
  bash ../scripts/build-plugins.sh --out "$WEIR_PLUGINS_DIR" rejecter >&2
fi

# Test dependencies, reinstalled only when the lock file or Node changes.
STAMP=node_modules/.weir-lock.sha256
WANT="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  npm ci --no-audit --no-fund
  echo "$WANT" > "$STAMP"
fi

exec node --test --test-concurrency=1 "$@" test/*.test.js
