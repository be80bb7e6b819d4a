#!/usr/bin/env bash
# Runs the cargo-fuzz targets (libFuzzer) for a while each:
#   scripts/fuzz.sh [seconds-per-target]   (default 60)
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP enables them on the stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
secs="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --root "$WEIR_CACHE/tools"
export PATH="$WEIR_CACHE/tools/bin:$PATH"
cd broker/protocol
for target in decode_request record_batches; do
  log "fuzzing $target for ${secs}s"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=4096
done
