#!/usr/bin/env bash
# Sets up what building WebAssembly plugin guests needs, idempotently and quietly:
#   - a Rust toolchain that can target wasm32-unknown-unknown: rustup's, when it has the target
#     installed; otherwise Debian's second toolchain (rustc-web, cargo-web, rust-web-src, lld),
#     which builds the standard library from source (-Zbuild-std);
#   - wasm-tools (pinned), installed into the cache, to turn modules into components.
#
# Source it (build-plugins.sh does) to get these variables, or run it to print them:
#   WASM_CARGO          the cargo to build guests with
#   WASM_RUSTC          the rustc it must use (empty: its own)
#   WASM_BUILD_STD      extra cargo arguments (e.g. -Zbuild-std=std,panic_abort), may be empty
#   WASM_BOOTSTRAP      1 when WASM_BUILD_STD needs RUSTC_BOOTSTRAP=1
#   WASM_TARGET_DIR     CARGO_TARGET_DIR for guest builds (kept apart from native builds)
#   WASM_TOOLS          the wasm-tools binary
set -euo pipefail

_wt_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$_wt_dir/lib.sh"
ensure_rust

WASM_TOOLS_VERSION=1.263.0
WASM_TARGET_DIR="${WASM_TARGET_DIR:-$WEIR_CACHE/target-wasm}"
_wt_tools_root="$WEIR_CACHE/tools"

if command -v rustup >/dev/null 2>&1 &&
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  WASM_CARGO="$(command -v cargo)"
  WASM_RUSTC=""
  WASM_BUILD_STD=""
  WASM_BOOTSTRAP=0
else
  # rustup cannot download the target here; Debian's toolchain brings its std source instead.
  apt_install rustc-web rust-web-src cargo-web lld-22 wasi-libc
  WASM_CARGO=/usr/bin/cargo
  WASM_RUSTC=/usr/bin/rustc
  WASM_BUILD_STD="-Zbuild-std=std,panic_abort"
  WASM_BOOTSTRAP=1
fi

WASM_TOOLS=""
for candidate in "$_wt_tools_root/bin/wasm-tools" "$(command -v wasm-tools || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] &&
    [ "$("$candidate" --version 2>/dev/null | awk '{print $2}')" = "$WASM_TOOLS_VERSION" ]; then
    WASM_TOOLS="$candidate"
    break
  fi
done
if [ -z "$WASM_TOOLS" ]; then
  log "installing wasm-tools $WASM_TOOLS_VERSION (a few minutes, once)"
  CARGO_TARGET_DIR="$WEIR_CACHE/target-tools" cargo install --quiet --locked \
    --root "$_wt_tools_root" wasm-tools --version "$WASM_TOOLS_VERSION"
  WASM_TOOLS="$_wt_tools_root/bin/wasm-tools"
fi

export WASM_CARGO WASM_RUSTC WASM_BUILD_STD WASM_BOOTSTRAP WASM_TARGET_DIR WASM_TOOLS

# Run rather than sourced: print the settings for `eval`.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  for var in WASM_CARGO WASM_RUSTC WASM_BUILD_STD WASM_BOOTSTRAP WASM_TARGET_DIR WASM_TOOLS; do
    printf 'export %s=%q\n' "$var" "${!var}"
  done
fi
