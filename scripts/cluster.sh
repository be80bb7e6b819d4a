#!/usr/bin/env bash
# A local three-node Weir cluster on one machine (each node broker and controller):
#
#   ./scripts/cluster.sh start    # build (release) if needed, start nodes 1-3, wait until ready
#   ./scripts/cluster.sh status   # which nodes run, brokers, controller, partition health
#   ./scripts/cluster.sh stop     # SIGTERM every node and wait for it to exit
#
# node N   Kafka            HTTP             controller       data, log
# 1        127.0.0.1:9092   127.0.0.1:9644   127.0.0.1:9093   ./data-cluster/node-1{,.log}
# 2        127.0.0.1:9192   127.0.0.1:9744   127.0.0.1:9193   ./data-cluster/node-2{,.log}
# 3        127.0.0.1:9292   127.0.0.1:9844   127.0.0.1:9293   ./data-cluster/node-3{,.log}
#
# New topics get three replicas and min.insync.replicas=2. Extra arguments after `start` go to
# every `weir serve` (e.g. `--broker-session-timeout-ms 3000`). Every command is idempotent:
# `start` leaves running nodes alone and starts the others; `stop` of a stopped cluster is fine.
# WEIR_BIN=/path/to/weir uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

DIR="$PWD/data-cluster"
NODES=(1 2 3)
VOTERS="1@127.0.0.1:9093,2@127.0.0.1:9193,3@127.0.0.1:9293"
READY_TIMEOUT_S=60
STOP_TIMEOUT_S=30

kafka_port() { echo $((9092 + 100 * ($1 - 1))); }
http_port() { echo $((9644 + 100 * ($1 - 1))); }
controller_port() { echo $((9093 + 100 * ($1 - 1))); }
pid_file() { echo "$DIR/node-$1.pid"; }
log_file() { echo "$DIR/node-$1.log"; }
out_file() { echo "$DIR/node-$1.out"; }

die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }

# The pid of node N when it runs (a weir process with that pid), else nothing.
node_pid() {
  local f pid
  f="$(pid_file "$1")"
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  # A pid that is gone, or was reused by another program, does not count.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ps -p "$pid" -o args= 2>/dev/null | grep -q 'weir.* serve'; then
    echo "$pid"
  fi
}

# Whether something already listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sets BIN: $WEIR_BIN, or the release build (built or brought up to date now, like run.sh).
find_bin() {
  if [ -n "${WEIR_BIN:-}" ]; then
    [ -x "$WEIR_BIN" ] || die "WEIR_BIN=$WEIR_BIN is not an executable"
    BIN="$WEIR_BIN"
    return
  fi
  ensure_rust
  log "building weir (release)"
  cargo build --release --locked -p weir || die "the build failed (see above)"
  BIN="$CARGO_TARGET_DIR/release/weir"
}

start() {
  mkdir -p "$DIR"
  # Nothing in it belongs in git.
  [ -f "$DIR/.gitignore" ] || echo '*' >"$DIR/.gitignore"
  local to_start=()
  for n in "${NODES[@]}"; do
    if [ -n "$(node_pid "$n")" ]; then
      echo "node $n already running (pid $(node_pid "$n"))"
      continue
    fi
    for port in "$(kafka_port "$n")" "$(http_port "$n")" "$(controller_port "$n")"; do
      port_busy "$port" && die "port $port (node $n) is in use by another process; stop it first"
    done
    to_start+=("$n")
  done
  if [ ${#to_start[@]} -eq 0 ]; then
    echo "cluster already running"
    status_brief
    return 0
  fi
  find_bin
  # All members start together: each is ready once a majority of the quorum is up.
  for n in "${to_start[@]}"; do
    mkdir -p "$DIR/node-$n"
    : >"$(out_file "$n")"
    printf '\n===== %s: starting node %s\n' "$(date -u +%FT%TZ)" "$n" >>"$(log_file "$n")"
    NO_COLOR=1 nohup "$BIN" serve \
      --node-id "$n" \
      --controller-voters "$VOTERS" \
      --listen "127.0.0.1:$(kafka_port "$n")" \
      --http-listen "127.0.0.1:$(http_port "$n")" \
      --data-dir "$DIR/node-$n" \
      --default-replication-factor 3 \
      --min-insync-replicas 2 \
      "$@" \
      </dev/null >"$(out_file "$n")" 2>>"$(log_file "$n")" &
    echo $! >"$(pid_file "$n")"
  done
  local deadline=$((SECONDS + READY_TIMEOUT_S)) waiting
  while :; do
    waiting=()
    for n in "${to_start[@]}"; do
      grep -q '^weir ready:' "$(out_file "$n")" 2>/dev/null && continue
      if [ -z "$(node_pid "$n")" ]; then
        echo "cluster.sh: node $n exited during start; the end of $(log_file "$n"):" >&2
        tail -n 20 "$(log_file "$n")" >&2
        exit 1
      fi
      waiting+=("$n")
    done
    [ ${#waiting[@]} -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "node(s) ${waiting[*]} not ready within ${READY_TIMEOUT_S}s (a node waits for a majority of the quorum); see $DIR/node-N.log, or ./scripts/cluster.sh stop"
    fi
    sleep 0.2
  done
  for n in "${to_start[@]}"; do
    echo "node $n: $(grep -m1 '^weir ready:' "$(out_file "$n")")  pid $(node_pid "$n")"
  done
  cat <<EOF
cluster ready: bootstrap 127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292
  kcat -b 127.0.0.1:9092 -L
  ./scripts/cluster.sh status
  ./scripts/cluster.sh stop
EOF
}

stop() {
  local stopping=()
  for n in "${NODES[@]}"; do
    local pid
    pid="$(node_pid "$n")"
    if [ -z "$pid" ]; then
      rm -f "$(pid_file "$n")"
      continue
    fi
    kill -TERM "$pid"
    stopping+=("$n:$pid")
  done
  if [ ${#stopping[@]} -eq 0 ]; then
    echo "cluster not running"
    return 0
  fi
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  for entry in "${stopping[@]}"; do
    local n="${entry%%:*}" pid="${entry##*:}"
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "cluster.sh: node $n (pid $pid) still running ${STOP_TIMEOUT_S}s after SIGTERM; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    rm -f "$(pid_file "$n")"
    echo "node $n stopped"
  done
}

# One line per node: running or not, and its addresses.
status_brief() {
  for n in "${NODES[@]}"; do
    local pid state
    pid="$(node_pid "$n")"
    if [ -z "$pid" ]; then
      state="stopped"
    elif curl -fsS -m 2 "http://127.0.0.1:$(http_port "$n")/health" >/dev/null 2>&1; then
      state="running (pid $pid, healthy)"
    else
      state="running (pid $pid, HTTP not answering)"
    fi
    printf 'node %s  kafka 127.0.0.1:%s  http 127.0.0.1:%s  %s\n' \
      "$n" "$(kafka_port "$n")" "$(http_port "$n")" "$state"
  done
}

# The cluster as the first answering node sees it (GET /v1/cluster), like `weir cluster status`.
status() {
  status_brief
  local json="" asked=""
  for n in "${NODES[@]}"; do
    if json="$(curl -fsS -m 5 "http://127.0.0.1:$(http_port "$n")/v1/cluster" 2>/dev/null)"; then
      asked="$n"
      break
    fi
  done
  if [ -z "$asked" ]; then
    echo "no node answers on HTTP; start the cluster with ./scripts/cluster.sh start"
    return 1
  fi
  echo
  if ! command -v jq >/dev/null 2>&1; then
    # Without jq (apt-get install jq) the JSON as it is, indented when python3 is there.
    python3 -m json.tool <<<"$json" 2>/dev/null || echo "$json"
    return 0
  fi
  jq -r '
    def parts($key; $title):
      (.[$key] // []) as $ps
      | "\($title) partitions: \($ps | length)",
        ($ps[] | "  \(.topic)-\(.partition)  leader \(.leader)  replicas \(.replicas | tojson)  isr \(.isr | tojson)");
    "cluster \(.cluster_id)  (asked node \(.node_id))",
    "controller: \(.controller.mode) mode, leader \(.controller.leader), term \(.controller.term // "-"), voters \(.controller.voters // "-" | tojson)",
    "NODE   ADDRESS                        RACK       STATE  PARTITIONS LED",
    (.partitions_led_by_broker // {}) as $led
    | (.brokers[] | "\(.node_id | tostring | . + "      " | .[0:6]) \("\(.host):\(.port)" + (" " * 30) | .[0:30]) \((.rack // "-") + (" " * 10) | .[0:10]) \(if .fenced then "fenced" else "active" end) \($led[.node_id | tostring] // 0)"),
    parts("under_replicated_partitions"; "under-replicated"),
    parts("offline_partitions"; "offline")
  ' <<<"$json"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start [weir serve flags...] | stop | status" >&2
    exit 2
    ;;
esac
