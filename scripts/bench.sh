#!/usr/bin/env bash
# Benchmarks Weir beside Apache Kafka on this machine, with the same librdkafka load generator
# (broker/bench) and Kafka's own kafka-producer-perf-test / kafka-consumer-perf-test against
# both, and prints a table of medians (min-max over repeated runs) with Weir/Kafka ratios.
#   scripts/bench.sh            full run (release builds; installs Kafka's jars from Maven Central)
#   scripts/bench.sh --smoke    seconds-long run of Weir alone on debug builds, same code path
#                               (part of the test command)
# Other options go to weir-bench (`--runs`, `--bytes`, `--no-kafka`, `--only KEY`, ...; see
# --help); `--only cluster-3-node` runs the three-node cluster row alone (Weir and Kafka).
# Results: bench-results.json (and ~/.cache/weir/bench-results.json), docs/bench.svg; a partial
# run (`--only`) writes ~/.cache/weir/bench-only.json and leaves the full run's files alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust

KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"

# ensure_kafka: Apache Kafka's release jars (broker, KRaft storage tool, perf tools) in
# $WEIR_CACHE/kafka/<version>/lib, through Maven. Idempotent.
ensure_kafka() {
  local home="$WEIR_CACHE/kafka/$KAFKA_VERSION"
  if [ -f "$home/lib/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$home/lib/kafka-tools-$KAFKA_VERSION.jar" ]; then
    echo "$home"
    return
  fi
  command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 || apt_install openjdk-17-jdk-headless maven
  log "installing Apache Kafka $KAFKA_VERSION jars into $home/lib"
  mkdir -p "$home"
  cat >"$home/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>weir.bench</groupId><artifactId>kafka-$KAFKA_VERSION</artifactId><version>1</version>
<dependencies>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>1.7.36</version></dependency>
</dependencies></project>
EOF
  rm -rf "$home/lib.tmp"
  (cd "$home" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib.tmp >&2)
  rm -rf "$home/lib" && mv "$home/lib.tmp" "$home/lib"
  echo "$home"
}

# Broker on core 0, load generator (and the Java perf tools it starts) on core 1.
pin=()
broker_cpu=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  pin=(taskset -c 1)
  broker_cpu=(--broker-cpu 0)
fi

if [ "${1:-}" = "--smoke" ]; then
  shift
  cargo build --locked -p weir -p weir-bench
  exec "${pin[@]}" "$CARGO_TARGET_DIR/debug/weir-bench" --smoke "${broker_cpu[@]}" \
    --weir "$CARGO_TARGET_DIR/debug/weir" --out "$WEIR_CACHE/bench-smoke.json" "$@"
fi

apt_install cmake libcurl4-openssl-dev build-essential pkg-config
kafka=()
case " $* " in
  *" --no-kafka "*) ;;
  *) kafka=(--kafka-home "$(ensure_kafka)" --kafka-version "$KAFKA_VERSION") ;;
esac
[ -f "$WEIR_CACHE/plugins/noop.wasm" ] && [ -f "$WEIR_CACHE/plugins/json-schema.wasm" ] || scripts/build-plugins.sh
cargo build --locked --release -p weir -p weir-bench
outputs=(--svg docs/bench.svg --copy "$WEIR_CACHE/bench-results.json")
case " $* " in
  *" --only "* | *" --only="*) outputs=(--out "$WEIR_CACHE/bench-only.json") ;;
esac
exec "${pin[@]}" "$CARGO_TARGET_DIR/release/weir-bench" "${broker_cpu[@]}" \
  --weir "$CARGO_TARGET_DIR/release/weir" "${kafka[@]}" "${outputs[@]}" "$@"
