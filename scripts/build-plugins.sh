#!/usr/bin/env bash
# Builds the plugins under plugins/ into WebAssembly components, <out>/<name>.wasm:
#   - every Rust plugin crate (plugins/examples/*, plugins/testing/*, plugins/template), for
#     wasm32-unknown-unknown in release, then `wasm-tools component new` and `validate`;
#   - the Python plugins (plugins/examples/*/app.py) with componentize-py, in a cached venv;
#   - the JavaScript plugins (plugins/examples/*/plugin.js) with componentize-js, cached too.
# A plugin's name is its directory's name. Incremental: a component is only rebuilt when its
# inputs are newer than it.
#
#   scripts/build-plugins.sh [--out DIR] [NAME...]     (default out: ~/.cache/weir/plugins)
set -euo pipefail

cd "$(dirname "$0")/.."
root="$PWD"
source scripts/wasm-toolchain.sh

out="$WEIR_CACHE/plugins"
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"

PY_VERSION=0.25.1       # componentize-py
JS_VERSION=0.23.0       # @bytecodealliance/componentize-js
wit_dir="$root/plugins/wit"

# All the plugins: "kind dir" lines.
all=()
for dir in plugins/template plugins/examples/* plugins/testing/*; do
  if [ -f "$dir/Cargo.toml" ]; then all+=("rust $dir")
  elif [ -f "$dir/app.py" ]; then all+=("python $dir")
  elif [ -f "$dir/plugin.js" ]; then all+=("js $dir")
  fi
done

selected=()
if [ ${#names[@]} -eq 0 ]; then
  selected=("${all[@]}")
else
  for name in "${names[@]}"; do
    found=""
    for entry in "${all[@]}"; do
      [ "$(basename "${entry#* }")" = "$name" ] && found="$entry"
    done
    [ -n "$found" ] || { echo "no plugin named $name" >&2; exit 2; }
    selected+=("$found")
  done
fi

# newer_than OUT PATH...: true when OUT is missing or any file under PATH... is newer.
newer_than() {
  local target="$1"; shift
  [ -e "$target" ] || return 0
  [ -n "$(find "$@" \( -name __pycache__ -o -name node_modules \) -prune -o \
    -type f -newer "$target" -print -quit 2>/dev/null)" ]
}

report() { # report NAME FILE
  printf '%-20s %8s  %s\n' "$1" "$(du -h "$2" | cut -f1)" "$2"
}

# componentize_module NAME MODULE: turns a core module into a validated component.
componentize_module() {
  local name="$1" module="$2" dest="$out/$1.wasm"
  if newer_than "$dest" "$module"; then
    "$WASM_TOOLS" component new "$module" -o "$dest.tmp"
    "$WASM_TOOLS" validate "$dest.tmp"
    mv "$dest.tmp" "$dest"
  fi
  report "$name" "$dest"
}

# --- Rust --------------------------------------------------------------------------------------
# Every Rust plugin is built, even when only some are asked for: building a subset would change
# the SDK's unified features (json-schema turns on `getrandom`) and so rebuild everything the
# next time. Up to date, the whole set takes a couple of seconds.
rust_pkgs=()
for entry in "${all[@]}"; do
  [ "${entry%% *}" = rust ] || continue
  rust_pkgs+=(-p "$(sed -n 's/^name *= *"\(.*\)"/\1/p' "${entry#* }/Cargo.toml" | head -1)")
done
rust_selected=()
for entry in "${selected[@]}"; do
  [ "${entry%% *}" = rust ] && rust_selected+=("${entry#* }")
done

if [ ${#rust_selected[@]} -gt 0 ]; then
  # The workspace's Cargo.lock belongs to the ordinary toolchain: let it bring the lock up to
  # date, then build with --locked so that another cargo never rewrites it.
  cargo metadata --format-version 1 --quiet >/dev/null
  # No debug info in plugins (the workspace's release profile has some for the broker).
  # getrandom's `custom` backend is the SDK's (feature `getrandom`): the ABI has no entropy.
  env CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='--cfg getrandom_backend="custom"' \
    CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    ${WASM_RUSTC:+RUSTC="$WASM_RUSTC"} \
    ${WASM_BUILD_STD:+RUSTC_BOOTSTRAP=$WASM_BOOTSTRAP} \
    "$WASM_CARGO" build --quiet --locked --release --target wasm32-unknown-unknown \
    $WASM_BUILD_STD "${rust_pkgs[@]}"
  for dir in "${rust_selected[@]}"; do
    lib="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1 | tr - _)"
    componentize_module "$(basename "$dir")" \
      "$WASM_TARGET_DIR/wasm32-unknown-unknown/release/$lib.wasm"
  done
fi

# --- Python (componentize-py) ------------------------------------------------------------------
for entry in "${selected[@]}"; do
  [ "${entry%% *}" = python ] || continue
  dir="$root/${entry#* }"
  name="$(basename "$dir")"
  dest="$out/$name.wasm"
  if newer_than "$dest" "$dir" "$wit_dir"; then
    venv="$WEIR_CACHE/venv-plugins"
    if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$PY_VERSION"; then
      log "installing componentize-py $PY_VERSION into $venv"
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet "componentize-py==$PY_VERSION"
    fi
    (cd "$dir" && "$venv/bin/componentize-py" -d "$wit_dir" -w plugin componentize app \
      -o "$dest.tmp" >/dev/null)
    "$WASM_TOOLS" validate "$dest.tmp"
    mv "$dest.tmp" "$dest"
  fi
  report "$name" "$dest"
done

# --- JavaScript (componentize-js) --------------------------------------------------------------
for entry in "${selected[@]}"; do
  [ "${entry%% *}" = js ] || continue
  dir="$root/${entry#* }"
  name="$(basename "$dir")"
  dest="$out/$name.wasm"
  if newer_than "$dest" "$dir" "$wit_dir"; then
    js="$WEIR_CACHE/js-plugins"
    if [ ! -f "$js/node_modules/@bytecodealliance/componentize-js/package.json" ] ||
      ! grep -q "\"version\": \"$JS_VERSION\"" \
        "$js/node_modules/@bytecodealliance/componentize-js/package.json"; then
      log "installing @bytecodealliance/componentize-js $JS_VERSION into $js"
      mkdir -p "$js"
      (cd "$js" && npm install --silent --no-audit --no-fund \
        "@bytecodealliance/componentize-js@$JS_VERSION" >/dev/null)
    fi
    NODE_PATH="$js/node_modules" node "$root/plugins/tools/componentize-js.mjs" \
      "$dir/plugin.js" "$wit_dir" "$dest.tmp"
    "$WASM_TOOLS" validate "$dest.tmp"
    mv "$dest.tmp" "$dest"
  fi
  report "$name" "$dest"
done
