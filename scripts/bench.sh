#!/usr/bin/env bash
# Benchmarks a fresh Weir node with a librdkafka load generator and prints a table of
# throughput, cold start and RSS, with the machine's own ceilings measured in the same run.
#   scripts/bench.sh            full run (release builds, 1 GiB per workload)
#   scripts/bench.sh --smoke    seconds-long run on debug builds (part of the test command)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
if [ "${1:-}" = "--smoke" ]; then
  shift
  cargo build --locked -p weir -p weir-bench
  exec "$CARGO_TARGET_DIR/debug/weir-bench" --smoke --weir "$CARGO_TARGET_DIR/debug/weir" --out "$WEIR_CACHE/bench-smoke.json" "$@"
fi
apt_install cmake libcurl4-openssl-dev build-essential pkg-config
cargo build --locked --release -p weir -p weir-bench
exec "$CARGO_TARGET_DIR/release/weir-bench" --weir "$CARGO_TARGET_DIR/release/weir" "$@"
