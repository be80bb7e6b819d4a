#!/usr/bin/env bash
# Fails when an SDK's conformance suite lacks a scenario listed in SCENARIOS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ids=$(grep -oE '^\| `[a-z_0-9]+`' sdk-rust/conformance/SCENARIOS.md | tr -d '|` ')
suites=(sdk-rust/tests/conformance.rs sdk-python/tests/test_conformance.py sdk-node/test/conformance.test.js)
missing=0
for f in "${suites[@]}"; do
  if [ ! -f "$f" ]; then echo "missing conformance suite: $f"; missing=1; continue; fi
  for id in $ids; do
    grep -q "$id" "$f" || { echo "$f: scenario '$id' not implemented"; missing=1; }
  done
done
[ "$missing" = 0 ] && echo "conformance: $(echo "$ids" | wc -w) scenarios in ${#suites[@]} SDKs"
exit "$missing"
