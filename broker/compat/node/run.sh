#!/usr/bin/env bash
# Weir kafkajs compatibility suite: installs what it needs (idempotently), then runs `node --test`.
# Env: WEIR_BIN (broker binary, default ~/.cache/weir/target/debug/weir)
# WEIR_KAFKAJS_LOG=1 for kafkajs info/warn/error logs on stderr,
# WEIR_API_VERSIONS_OUT=<file> to append the Kafka API versions kafkajs used.
# Plugin tests: the WebAssembly components come from scripts/build-plugins.sh (run here, it is
# incremental) into WEIR_PLUGINS_DIR (default ~/.cache/weir/plugins); WEIR_SKIP_PLUGIN_BUILD=1
# skips the build and uses what is there.
set -euo pipefail
cd "$(dirname "$0")"

export WEIR_BIN="${WEIR_BIN:-$HOME/.cache/weir/target/debug/weir}"
if [ ! -x "$WEIR_BIN" ]; then
  echo "run.sh: broker binary not found at $WEIR_BIN (build it and/or set WEIR_BIN)" >&2
  exit 2
fi

# kcat: used to read back and verify produced records (kafkajs has no group-less consumer).
if ! command -v kcat >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kcat >/dev/null
fi

# The lz4 codec plugin builds a native addon with node-gyp. Point node-gyp at the local
# Node headers (if installed) so it does not try to download them; if the build still fails,
# npm drops the optional dependency and the lz4 test is skipped.
if [ -z "${npm_config_nodedir:-}" ]; then
  NODE_PREFIX="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  if [ -f "$NODE_PREFIX/include/node/node.h" ]; then export npm_config_nodedir="$NODE_PREFIX"; fi
fi

if [ -f package-lock.json ]; then
  STAMP=node_modules/.weir-lock.sha256
  WANT="$(sha256sum package-lock.json | cut -d' ' -f1) $(node --version)"
  if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    npm ci --no-audit --no-fund
    echo "$WANT" > "$STAMP"
  fi
else
  npm install --no-audit --no-fund
fi

# The plugins test/plugins.test.js deploys.
PLUGINS=(rejecter tagger pii-redact)
export WEIR_PLUGINS_DIR="${WEIR_PLUGINS_DIR:-${WEIR_CACHE:-$HOME/.cache/weir}/plugins}"
BUILD_PLUGINS=../../../scripts/build-plugins.sh
if [ "${WEIR_SKIP_PLUGIN_BUILD:-0}" != 1 ] && [ -f "$BUILD_PLUGINS" ]; then
  echo "run.sh: building plugins (${PLUGINS[*]}) into $WEIR_PLUGINS_DIR" >&2
  bash "$BUILD_PLUGINS" --out "$WEIR_PLUGINS_DIR" "${PLUGINS[@]}" >&2
fi

exec node --test "$@"
