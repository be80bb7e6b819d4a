#!/usr/bin/env bash
# End-to-end tests of the example services: builds the broker and the Rust services, the Python
# SDK (into ~/.cache/weir/venv-examples) and the Node SDK (+ npm install in examples/node), then
# runs examples/tests/e2e.py: a real broker, and every producer × consumer language pairing over
# HTTP, a plugin rejection per producer, and /health turning 503 when the broker stops.
#
#   examples/run-tests.sh [e2e.py args…]      e.g. --producers rust --consumers rust,node
#
# Idempotent; a second run only rebuilds what changed. A language whose SDK is missing from the
# tree is left out (and said so); a language whose build fails fails the run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
. scripts/lib.sh
ensure_rust

venv="${WEIR_EXAMPLES_VENV:-$WEIR_CACHE/venv-examples}"
export WEIR_BIN="${WEIR_BIN:-$CARGO_TARGET_DIR/debug/weir}"
export RUST_BIN_DIR="$CARGO_TARGET_DIR/debug"
export WEIR_REJECTER="${WEIR_REJECTER:-$WEIR_CACHE/plugins/rejecter.wasm}"

log "system packages (librdkafka builds from source: cmake, a C toolchain, curl headers)"
apt_install cmake build-essential pkg-config libcurl4-openssl-dev python3-venv

log "broker and Rust services (cargo build -p weir -p weir-examples)"
cargo build -p weir -p weir-examples

if [ ! -f "$WEIR_REJECTER" ]; then
  log "rejecter plugin (scripts/build-plugins.sh rejecter)"
  scripts/build-plugins.sh rejecter
fi

langs=(rust)

if [ -f sdk-python/pyproject.toml ]; then
  log "Python SDK into $venv (maturin build, debug profile; then pip install the wheel)"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if [ ! -x "$venv/bin/maturin" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "maturin>=1.7,<2"
  fi
  wheels="$WEIR_CACHE/wheels-examples"
  rm -rf "$wheels"
  (cd sdk-python && "$venv/bin/maturin" build --quiet --out "$wheels" --interpreter "$venv/bin/python")
  "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheels"/weir-*.whl
  if [ -s examples/python/requirements.txt ] && grep -qv '^\s*#' examples/python/requirements.txt; then
    "$venv/bin/python" -m pip install --quiet -r examples/python/requirements.txt
  fi
  "$venv/bin/python" -c 'import weir' 
  langs+=(python)
else
  echo "!! sdk-python/pyproject.toml missing: the Python services are left out" >&2
fi
export PYTHON="$venv/bin/python"

if [ -f sdk-node/package.json ] && command -v node >/dev/null && command -v npm >/dev/null; then
  log "Node SDK (sdk-node: node build.js --debug) and npm install in examples/node"
  (cd sdk-node && node build.js --debug)
  (cd examples/node && npm install --no-audit --no-fund --loglevel=error)
  langs+=(node)
else
  echo "!! sdk-node/package.json, node or npm missing: the Node services are left out" >&2
fi

list="$(IFS=,; echo "${langs[*]}")"
log "end-to-end: producers and consumers in $list"
py="$PYTHON"
[ -x "$py" ] || py=python3
exec "$py" examples/tests/e2e.py --producers "$list" --consumers "$list" "$@"
