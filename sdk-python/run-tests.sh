#!/usr/bin/env bash
# Builds the Python SDK into a venv and runs its pytest suite against a real Weir broker.
#
#   sdk-python/run-tests.sh [pytest args…]
#
# Idempotent: the venv (~/.cache/weir/venv-sdk) and the cargo target dir are reused, so a
# second run only rebuilds what changed. WEIR_BIN names the broker binary (default: the debug
# build in $CARGO_TARGET_DIR, built here when missing).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}"
venv="${WEIR_SDK_VENV:-$HOME/.cache/weir/venv-sdk}"
export WEIR_BIN="${WEIR_BIN:-$CARGO_TARGET_DIR/debug/weir}"
export WEIR_PLUGINS_DIR="${WEIR_PLUGINS_DIR:-$HOME/.cache/weir/plugins}"

if [ ! -x "$WEIR_BIN" ]; then
    echo "== building the broker ($WEIR_BIN)"
    (cd "$root" && cargo build -p weir)
fi
if [ ! -f "$WEIR_PLUGINS_DIR/rejecter.wasm" ]; then
    echo "== building the test plugins"
    "$root/scripts/build-plugins.sh"
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "== creating $venv"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
if ! "$py" -c 'import pytest, pytest_timeout, confluent_kafka' 2>/dev/null \
    || [ ! -x "$venv/bin/maturin" ]; then
    echo "== installing maturin, pytest, confluent-kafka into $venv"
    "$py" -m pip install --quiet --upgrade pip
    "$py" -m pip install --quiet "maturin>=1.7,<2" "pytest>=7" pytest-timeout confluent-kafka
fi

echo "== building the weir package (maturin develop, debug profile)"
# The debug profile shares the debug build of librdkafka that `cargo test` already made.
(cd "$here" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop)

echo "== pytest"
cd "$here"
exec "$py" -m pytest tests -p no:cacheprovider "$@"
