#!/usr/bin/env bash
# Runs a three-node raftmq cluster as local processes (no Docker):
#   n1 http 127.0.0.1:9000  raft :9001  gossip :9002   data ./data/n1
#   n2 http 127.0.0.1:9010  raft :9011  gossip :9012   data ./data/n2
#   n3 http 127.0.0.1:9020  raft :9021  gossip :9022   data ./data/n3
# Ctrl-C stops all three gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/raftmq}
DATA=${DATA:-./data}
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT
for i in 1 2 3; do
  base=$((9000 + (i - 1) * 10))
  "$BIN" serve --node-id "n$i" --data-dir "$DATA/n$i" \
    --http-addr "127.0.0.1:$base" --raft-addr "127.0.0.1:$((base + 1))" --gossip-addr "127.0.0.1:$((base + 2))" \
    --bootstrap-expect 3 --join 127.0.0.1:9002,127.0.0.1:9012,127.0.0.1:9022 2>&1 | sed -u "s/^/n$i | /" &
  pids+=($!)
done
wait
