#!/usr/bin/env bash
# Weir compatibility suite: franz-go (kgo + kadm + raw kmsg), IBM/sarama (ClusterAdmin, idempotent
# SyncProducer, ConsumerGroup at Kafka versions 0.11, 2.1 and 3.6) and segmentio/kafka-go (Conn,
# Writer, Reader with and without a group, Client).
# Modules are cached in Go's module cache. Does not build the broker: set WEIR_BIN.
set -euo pipefail
cd "$(dirname "$0")"

export WEIR_BIN="${WEIR_BIN:-$HOME/.cache/weir/target/debug/weir}"

if ! command -v go >/dev/null 2>&1; then
  echo "run.sh: go is required (Go 1.26+: IBM/sarama v1.61.1 needs it)" >&2
  exit 2
fi
go version

if [ ! -x "$WEIR_BIN" ]; then
  echo "run.sh: Weir broker binary not found at WEIR_BIN=$WEIR_BIN (build it first)" >&2
  exit 2
fi

go mod download
go vet ./...
# -count=1: never reuse cached results (the broker under test changes); -p 1: one broker at a time.
exec go test -count=1 -p 1 -v -timeout 240s ./...
