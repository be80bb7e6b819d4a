#!/usr/bin/env bash
# Measures compaction on this machine: a release `weir` with a compacted topic (64 MiB segments),
# RECORDS 1 KiB records over KEYS keys produced with librdkafka, then the cleaner's passes as
# the broker logs them (segments, bytes before and after, records removed, elapsed ms).
#   scripts/compaction-probe.sh [RECORDS] [KEYS]     (default 600000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
log "building weir (release)"
cargo build --release -q -p weir
VENV="${WEIR_COMPAT_VENV:-$WEIR_CACHE/venv-compat}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r broker/compat/python/requirements.txt
fi
WEIR_BIN="$CARGO_TARGET_DIR/release/weir" "$VENV/bin/python" broker/compat/python/probes/compaction.py \
  "${1:-600000}" "${2:-10000}"
