#!/usr/bin/env bash
# Runs every test: builds the plugin components, formatting and lints, the Rust unit and
# integration tests (real broker processes driven by librdkafka, and the Rust SDK's suites), then
# the client compatibility suites (kcat, confluent-kafka, kafka-python, kafkajs, the Java client,
# franz-go), the Python and Node SDK suites and the example services, against the built binary.
# Installs what the tests need first; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust

log "system packages (librdkafka build needs cmake and curl headers; kcat for the CLI tests)"
apt_install cmake libcurl4-openssl-dev build-essential pkg-config kcat openssl

log "plugins: WebAssembly components from plugins/ (the wasm toolchain is installed on first use)"
scripts/build-plugins.sh

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
log "cargo test"
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc

export WEIR_BIN="$CARGO_TARGET_DIR/debug/weir"
log "bench smoke (seconds, proves the bench command runs)"
scripts/bench.sh --smoke

log "SDK conformance: every SDK implements every shared scenario"
scripts/sdk-conformance-check.sh

failed=()
for suite in broker/compat/python broker/compat/node broker/compat/java broker/compat/go \
  sdk-python sdk-node examples; do
  runner="$suite/run.sh"
  [ -x "$runner" ] || runner="$suite/run-tests.sh"
  [ -x "$runner" ] || continue
  log "suite: $suite"
  if ! "$runner"; then
    failed+=("$suite")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "suites failed: ${failed[*]}" >&2
  exit 1
fi
log "all tests passed"
