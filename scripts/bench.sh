#!/usr/bin/env bash
# The second half of `make bench`: builds bin/raftmq, starts a local
# three-node cluster as processes (fsync on, the default; data in a temp dir):
#   n1 http 127.0.0.1:19100  raft :19101  gossip :19102
#   n2 http 127.0.0.1:19110  raft :19111  gossip :19112
#   n3 http 127.0.0.1:19120  raft :19121  gossip :19122
# waits for GET /ready on each, runs `raftmq loadtest --workload w1` against
# all three with --out bench-results/<UTC timestamp>, and stops the cluster
# on exit. The last line on stdout is the loadtest's summary line; the exit
# status is the loadtest's.
#
# Environment: BENCH_PORT_BASE (19100), BENCH_WORKLOAD (w1; w2 is W1 over 12 queues), BENCH_OUT
# (bench-results/<timestamp>), BENCH_PPROF=1 (each node serves net/http/pprof
# on its port base + 3: 19103, 19113, 19123), BENCH_SERVE_ARGS (more
# `raftmq serve` flags for every node, e.g. "--partitions 6"). Extra arguments go to `raftmq loadtest`, after
# the defaults, so they override them (e.g. --messages 10000 --duration 5s).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BIN=${BIN:-bin/raftmq}
BASE=${BENCH_PORT_BASE:-19100}
WORKLOAD=${BENCH_WORKLOAD:-w1}
OUT=${BENCH_OUT:-bench-results/$(date -u +%Y%m%d-%H%M%S)}

CGO_ENABLED=0 "$GO" build -o "$BIN" ./cmd/raftmq
mkdir -p "$OUT"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/raftmq-bench.XXXXXX")
pids=()
stop() {
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap stop EXIT
trap 'exit 130' INT TERM

http() { echo "127.0.0.1:$((BASE + ($1 - 1) * 10))"; }
port() { echo $((BASE + ($1 - 1) * 10 + $2)); }
join="127.0.0.1:$(port 1 2),127.0.0.1:$(port 2 2),127.0.0.1:$(port 3 2)"
for i in 1 2 3; do
  extra=(${BENCH_SERVE_ARGS:-})
  if [[ -n "${BENCH_PPROF:-}" ]]; then extra=(--pprof "127.0.0.1:$(port "$i" 3)"); fi
  "$BIN" serve "${extra[@]}" --node-id "n$i" --data-dir "$DATA/n$i" \
    --http-addr "$(http "$i")" --raft-addr "127.0.0.1:$(port "$i" 1)" --gossip-addr "127.0.0.1:$(port "$i" 2)" \
    --bootstrap-expect 3 --join "$join" >"$OUT/n$i.log" 2>&1 &
  pids+=($!)
done

# Poll GET /ready on each node until 200, for at most 60 s.
deadline=$((SECONDS + 60))
for i in 1 2 3; do
  until curl -sf -o /dev/null "http://$(http "$i")/ready"; do
    if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then
      echo "bench: n$i exited; its log is $OUT/n$i.log" >&2
      exit 1
    fi
    if ((SECONDS > deadline)); then
      echo "bench: n$i not ready after 60 s; its log is $OUT/n$i.log" >&2
      exit 1
    fi
    sleep 0.2
  done
done
echo "bench: three nodes ready; data in $DATA, logs and report in $OUT" >&2

set +e
"$BIN" loadtest --target "http://$(http 1),http://$(http 2),http://$(http 3)" --workload "$WORKLOAD" --out "$OUT" "$@"
code=$?
set -e
exit "$code"
