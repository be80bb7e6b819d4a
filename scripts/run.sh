#!/usr/bin/env bash
# Builds Weir (release) and starts a single node on embedded defaults:
# Kafka on :9092, HTTP (web console at /, /metrics, /health) on :9644, data in ./data.
# Extra arguments go to `weir serve` (see `weir serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
log "building weir (release)"
cargo build --release --locked -p weir
exec "$CARGO_TARGET_DIR/release/weir" serve "$@"
