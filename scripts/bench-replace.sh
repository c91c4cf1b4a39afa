#!/usr/bin/env bash
# Replace a follower under load: builds bin/raftmq, starts a local three-node
# cluster as scripts/bench.sh does (fsync on, data in a temp dir), and runs one
# `raftmq loadtest` against n1 and n2: a prefill of BENCH_PREFILL messages
# (produced, consumed and acked, then retained), then a steady open-loop load
# (workload mixed at BENCH_RATE msg/s for BENCH_DURATION; --dedup-ids, since
# the kill makes the partitions n3 led elect again and the produces caught
# in that are retried, and a retry must not count as a duplicate). BENCH_BEFORE
# seconds into the steady load it kills n3 (SIGKILL), waits until n1 sees it
# dead, removes it (DELETE /v1/cluster/nodes/n3 on n1), wipes its data
# directory and starts it again, empty, under the same id with --join. It then
# polls GET /v1/cluster on n1 until every partition lists n3 as a replica
# again, then the nodes' raftmq_raft_applied_index until n3 has applied, in
# every partition, what n1 had (full replication), and reports:
#   - time from n3's restart (and from the kill) to full replication;
#   - what n3 received: its data directory's size and the bytes it read
#     (/proc/<pid>/io rchar: sockets and files), as no metric counts
#     snapshot bytes;
#   - client throughput and per-second e2e p50/p99 before the kill, during
#     the catch-up (kill to full replication) and after it, from the
#     loadtest's per-second series;
#   - the loadtest's verification (lost, duplicates) and summary line.
# Every wait is bounded; every process it starts is stopped on exit.
#
# Environment: BENCH_PORT_BASE (19300), BENCH_OUT (bench-results/replace-<UTC
# timestamp>), BENCH_PREFILL (1000000), BENCH_RATE (2000), BENCH_DURATION
# (240s: must outlast BENCH_BEFORE plus the catch-up), BENCH_BEFORE (30),
# BENCH_CATCHUP_TIMEOUT (600, seconds), BENCH_SERVE_ARGS (more `raftmq serve`
# flags for every node). Extra arguments go to `raftmq loadtest`, after the
# defaults. The last line on stdout is the replace summary line; the exit
# status is 0 only when the loadtest passed and n3 got every replica back.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BIN=${BIN:-bin/raftmq}
BASE=${BENCH_PORT_BASE:-19300}
OUT=${BENCH_OUT:-bench-results/replace-$(date -u +%Y%m%d-%H%M%S)}
PREFILL=${BENCH_PREFILL:-1000000}
RATE=${BENCH_RATE:-2000}
DURATION=${BENCH_DURATION:-240s}
BEFORE=${BENCH_BEFORE:-30}
CATCHUP_TIMEOUT=${BENCH_CATCHUP_TIMEOUT:-600}
PROJECT=bench-replace-$$

CGO_ENABLED=0 "$GO" build -o "$BIN" ./cmd/raftmq
mkdir -p "$OUT"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/raftmq-replace.XXXXXX")
declare -A pid
lt_pid=
stop() {
  local p=()
  [[ -n "$lt_pid" ]] && p+=("$lt_pid")
  for i in "${!pid[@]}"; do p+=("${pid[$i]}"); done
  if ((${#p[@]})); then
    kill -TERM "${p[@]}" 2>/dev/null || true
    wait "${p[@]}" 2>/dev/null || true
  fi
  rm -rf "$DATA"
}
trap stop EXIT
trap 'exit 130' INT TERM

log() { echo "bench-replace: $(date -u +%H:%M:%S) $*" >&2; }
now() { date +%s.%N; }
http() { echo "127.0.0.1:$((BASE + ($1 - 1) * 10))"; }
port() { echo $((BASE + ($1 - 1) * 10 + $2)); }
join="127.0.0.1:$(port 1 2),127.0.0.1:$(port 2 2),127.0.0.1:$(port 3 2)"
N1="http://$(http 1)"

# start_node I LOGSUFFIX: starts node nI in the background.
start_node() {
  local extra=(${BENCH_SERVE_ARGS:-})
  "$BIN" serve "${extra[@]}" --node-id "n$1" --data-dir "$DATA/n$1" \
    --http-addr "$(http "$1")" --raft-addr "127.0.0.1:$(port "$1" 1)" --gossip-addr "127.0.0.1:$(port "$1" 2)" \
    --bootstrap-expect 3 --join "$join" >>"$OUT/n$1$2.log" 2>&1 &
  pid[$1]=$!
}

# wait_until SECONDS WHAT CMD...: runs CMD every 0.5 s until it succeeds;
# exits the script when SECONDS pass first or the loadtest has ended.
wait_until() {
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    if ((SECONDS > deadline)); then
      log "$what: not after $limit s"
      exit 1
    fi
    if [[ -n "$lt_pid" ]] && ! kill -0 "$lt_pid" 2>/dev/null; then
      log "$what: the loadtest ended first; its output is $OUT/loadtest.out"
      exit 1
    fi
    sleep 0.5
  done
}

ready() { curl -sf -o /dev/null "http://$(http "$1")/ready"; }

for i in 1 2 3; do start_node "$i" ""; done
for i in 1 2 3; do wait_until 60 "n$i ready" ready "$i"; done
log "three nodes ready; data in $DATA, logs and report in $OUT"

# The load: n1 and n2 only, so that killing n3 takes no client's node away.
set +e
"$BIN" loadtest --target "http://$(http 1),http://$(http 2)" --workload mixed --rate "$RATE" \
  --duration "$DURATION" --prefill "$PREFILL" --project "$PROJECT" --dedup-ids --out "$OUT" "$@" >"$OUT/loadtest.out" 2>&1 &
lt_pid=$!
set -e

# consumed GE: the run's group has acked at least GE messages (its queue is
# the only one of the run's project).
consumed() {
  curl -sf "$N1/v1.0/$PROJECT/queues" | python3 -c '
import json, sys, urllib.request
qs = json.load(sys.stdin)["queues"]
if not qs: sys.exit(1)
url = sys.argv[1] + "/v1.0/" + sys.argv[2] + "/queues/" + qs[0]["id"] + "/groups"
gs = json.load(urllib.request.urlopen(url, timeout=5))["groups"]
sys.exit(0 if gs and gs[0]["consumed_messages"] >= int(sys.argv[3]) else 1)' "$N1" "$PROJECT" "$1"
}
# The prefill's bound: --prefill-timeout (30 min) for each half.
wait_until 3600 "prefill drained" consumed "$PREFILL"
t_prefilled=$(now)
log "prefill of $PREFILL drained; steady load for $BEFORE s before the kill"
sleep "$BEFORE"

# cluster PY: GET /v1/cluster on n1, as c, then exit status of PY's truth.
cluster() {
  curl -sf "$N1/v1/cluster" | python3 -c "import json, sys; c = json.load(sys.stdin); sys.exit(0 if ($1) else 1)"
}
# caught_up: for every partition group, n3's applied index is within 500
# entries (well under a second of this load) of n1's, read first. The
# catalogue lists an added replica while it still catches up as a
# non-voter; the applied index says when it has.
caught_up() {
  python3 - "http://$(http 1)/metrics" "http://$(http 3)/metrics" <<'PY'
import re, sys, urllib.request
def applied(url):
    out = {}
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
        m = re.match(r'raftmq_raft_applied_index\{group="([^"]+)"\} (\S+)', line)
        if m and m.group(1) != "meta":
            out[m.group(1)] = float(m.group(2))
    return out
lead = applied(sys.argv[1])
n3 = applied(sys.argv[2])
sys.exit(0 if lead and all(n3.get(g, -1) >= i - 500 for g, i in lead.items()) else 1)
PY
}
t_kill=$(now)
kill -KILL "${pid[3]}"
wait "${pid[3]}" 2>/dev/null || true
unset 'pid[3]'
log "n3 killed"
wait_until 60 "n3 seen dead by n1" cluster 'any(n["id"] == "n3" and n["state"] == "dead" for n in c["nodes"])'
t_dead=$(now)
# 202 accepted; 503 (no metadata leader reached) is retried, ten times at most.
for try in 1 2 3 4 5 6 7 8 9 10; do
  code=$(curl -s -m 10 -o "$OUT/remove.json" -w '%{http_code}' -X DELETE "$N1/v1/cluster/nodes/n3" || true)
  [[ "$code" == 503 ]] || break
  sleep 0.5
done
if [[ "$code" != 202 ]]; then
  log "DELETE /v1/cluster/nodes/n3: $code $(cat "$OUT/remove.json")"
  exit 1
fi
wait_until 30 "n3 gone from the node list" cluster 'all(n["id"] != "n3" for n in c["nodes"])'
rm -rf "$DATA/n3"
t_start=$(now)
start_node 3 "-replaced"
log "n3 removed, wiped and started again empty"
wait_until "$CATCHUP_TIMEOUT" "every partition listing n3" cluster \
  'c["partitions"] and all(len(p["replicas"]) == 3 and "n3" in p["replicas"] and p["leader"] for p in c["partitions"])'
t_listed=$(now)
log "every partition lists n3 again; waiting until n3 has applied what n1 had"
wait_until "$CATCHUP_TIMEOUT" "n3 caught up" caught_up
t_full=$(now)
n3_rchar=$(awk '/^rchar/ {print $2}' "/proc/${pid[3]}/io" 2>/dev/null || echo -1)
n3_bytes=$(du -sb "$DATA/n3" | cut -f1)
curl -sf "$N1/v1/cluster" >"$OUT/cluster-after.json" || true
log "full replication: every partition has n3 again"

set +e
wait "$lt_pid"
lt_code=$?
set -e
lt_pid=
python3 - "$OUT/report.json" "$t_prefilled" "$t_kill" "$t_dead" "$t_start" "$t_full" "$t_listed" "$n3_bytes" "$n3_rchar" "$lt_code" <<'EOF' | tee "$OUT/replace.txt"
import datetime, json, re, statistics, sys
rep = json.load(open(sys.argv[1]))
t_pre, t_kill, t_dead, t_start, t_full, t_listed = map(float, sys.argv[2:8])
n3_bytes, n3_rchar, lt_code = int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
def ts(s):  # RFC 3339 with nanoseconds, to unix seconds
    s = re.sub(r"(\.\d{6})\d*", r"\1", s).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s).timestamp()
started = ts(rep["started"])
ph = next(p for p in rep["phases"] if p["name"] == "mixed-fixed")
p0 = started + ph["offset_s"]
def window(name, a, b):
    pts = [p for p in ph["series"] if a <= p0 + p["t"] and p0 + p["t"] + 1 <= b]
    if not pts:
        return f"{name:10s} no whole second"
    secs = len(pts)
    acked = sum(p["acked"] for p in pts) / secs
    prod = sum(p["produced"] for p in pts) / secs
    errs = sum(p["errors"] for p in pts)
    p99 = [p["e2e_p99_ms"] for p in pts if p["e2e_p99_ms"] is not None]
    p50 = [p["e2e_p50_ms"] for p in pts if p["e2e_p50_ms"] is not None]
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    return (f"{name:10s} {secs:4d} s  produced {prod:7.0f} msg/s  acked {acked:7.0f} msg/s  errors {errs}  "
            f"e2e per second: p50 median {med(p50):.2f} ms, p99 median {med(p99):.2f} ms, p99 worst {max(p99, default=float('nan')):.2f} ms")
end = p0 + ph["duration_s"]
v = rep["verification"]
print(f"n3 dead after kill: {t_dead - t_kill:.1f} s; restart to every partition listing n3: {t_listed - t_start:.1f} s; "
      f"restart to full replication (n3 applied what n1 had): {t_full - t_start:.1f} s; kill to full replication: {t_full - t_kill:.1f} s")
print(f"n3 after catch-up: data dir {n3_bytes / 2**20:.0f} MiB, bytes read {n3_rchar / 2**20:.0f} MiB; retained {rep['summary']['retained']}")
if t_full > end:
    print("catch-up ended after the steady load: BENCH_DURATION too short for these windows")
print(window("before", max(t_pre, p0) + 5, t_kill))
print(window("catch-up", t_kill, t_full))
print(window("after", t_full, end))
print(f"loadtest exit {lt_code}; lost {v['lost']}, duplicates {v['duplicates']}, errors {rep['error_total']}, fatal {rep['fatal']}")
print(f"replace_full_replication_s={t_full - t_start:.1f} kill_to_full_s={t_full - t_kill:.1f} n3_data_mib={n3_bytes / 2**20:.0f} "
      f"retained={rep['summary']['retained']} lost={v['lost']} duplicates={v['duplicates']}")
EOF
tail -1 "$OUT/loadtest.out" >&2
exit "$lt_code"
