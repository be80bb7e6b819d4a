#!/usr/bin/env bash
# Weir broker compatibility suite: confluent-kafka (librdkafka), kafka-python, aiokafka (asyncio), kcat.
# Idempotent setup (venv in ~/.cache/weir/venv-compat, kcat via apt-get if missing),
# then runs pytest. Does not build the broker: set WEIR_BIN (default
# $HOME/.cache/weir/target/debug/weir). Extra args are passed to pytest.
# Plugin tests: the WebAssembly components come from scripts/build-plugins.sh (run here, it is
# incremental) into WEIR_PLUGINS_DIR (default ~/.cache/weir/plugins); WEIR_SKIP_PLUGIN_BUILD=1
# skips the build and uses what is there.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${WEIR_COMPAT_VENV:-$HOME/.cache/weir/venv-compat}"
export WEIR_BIN="${WEIR_BIN:-$HOME/.cache/weir/target/debug/weir}"
PY="${PYTHON:-python3}"

if ! command -v openssl >/dev/null 2>&1; then
  # test_security.py makes its certificates with the openssl command line.
  echo "run.sh: installing openssl" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl
fi

if ! command -v kcat >/dev/null 2>&1; then
  echo "run.sh: installing kcat" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq kcat
fi

REQ_HASH="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.req-hash" 2>/dev/null)" != "$REQ_HASH" ]; then
  echo "run.sh: preparing venv $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$REQ_HASH" > "$VENV/.req-hash"
fi

if [ ! -x "$WEIR_BIN" ]; then
  echo "run.sh: WEIR_BIN=$WEIR_BIN does not exist (build the broker first)" >&2
  exit 2
fi

# The plugins test_plugins.py deploys.
PLUGINS=(rejecter tagger pii-redact router trap loop)
export WEIR_PLUGINS_DIR="${WEIR_PLUGINS_DIR:-${WEIR_CACHE:-$HOME/.cache/weir}/plugins}"
BUILD_PLUGINS="$HERE/../../../scripts/build-plugins.sh"
if [ "${WEIR_SKIP_PLUGIN_BUILD:-0}" != 1 ] && [ -f "$BUILD_PLUGINS" ]; then
  echo "run.sh: building plugins (${PLUGINS[*]}) into $WEIR_PLUGINS_DIR" >&2
  bash "$BUILD_PLUGINS" --out "$WEIR_PLUGINS_DIR" "${PLUGINS[@]}" >&2
fi

cd "$HERE"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
