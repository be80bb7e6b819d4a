#!/usr/bin/env bash
# Weir compatibility suite: official Apache Kafka Java client (kafka-clients).
# Runs the JUnit 5 suite once with kafka-clients 3.9.1 and once with 4.x (if it resolves from
# Maven Central). Dependencies are cached in ~/.m2. Does not build the broker: set WEIR_BIN.
set -euo pipefail
cd "$(dirname "$0")"

KAFKA3_VERSION="${KAFKA3_VERSION:-3.9.1}"
KAFKA4_VERSION="${KAFKA4_VERSION:-4.1.0}"
export WEIR_BIN="${WEIR_BIN:-$HOME/.cache/weir/target/debug/weir}"

# --- toolchain: Java 17 + Maven (preinstalled on the target machine; install from apt if missing) ---
if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven
  else
    echo "run.sh: java and mvn are required" >&2; exit 2
  fi
fi
# SecurityTest makes its certificates with the openssl command line.
if ! command -v openssl >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl
fi
if [ -z "${JAVA_HOME:-}" ]; then
  for d in /usr/lib/jvm/java-17-openjdk-*; do
    if [ -x "$d/bin/java" ]; then export JAVA_HOME="$d"; break; fi
  done
fi
if [ -n "${JAVA_HOME:-}" ]; then export PATH="$JAVA_HOME/bin:$PATH"; fi
java -version 2>&1 | head -1

if [ ! -x "$WEIR_BIN" ]; then
  echo "run.sh: Weir broker binary not found at WEIR_BIN=$WEIR_BIN (build it first)" >&2
  exit 2
fi

# The plugin PluginRejectionTest deploys (scripts/build-plugins.sh is idempotent and quick when
# up to date).
export WEIR_PLUGINS_DIR="${WEIR_PLUGINS_DIR:-${WEIR_CACHE:-$HOME/.cache/weir}/plugins}"
BUILD_PLUGINS="$PWD/../../../scripts/build-plugins.sh"
if [ "${WEIR_SKIP_PLUGIN_BUILD:-0}" != 1 ] && [ -f "$BUILD_PLUGINS" ]; then
  bash "$BUILD_PLUGINS" --out "$WEIR_PLUGINS_DIR" rejecter >&2
fi

MVN=(mvn -B -ntp)
status=0

echo "=== kafka-clients $KAFKA3_VERSION ==="
if ! "${MVN[@]}" test -Dkafka.version="$KAFKA3_VERSION"; then
  echo "run.sh: FAILED with kafka-clients $KAFKA3_VERSION" >&2
  status=1
fi

echo "=== kafka-clients $KAFKA4_VERSION ==="
if "${MVN[@]}" -q dependency:resolve -Dkafka.version="$KAFKA4_VERSION" >/dev/null 2>&1; then
  if ! "${MVN[@]}" test -Dkafka.version="$KAFKA4_VERSION"; then
    echo "run.sh: FAILED with kafka-clients $KAFKA4_VERSION" >&2
    status=1
  fi
else
  echo "run.sh: kafka-clients $KAFKA4_VERSION does not resolve from Maven Central; skipping the 4.x run"
fi

exit $status
