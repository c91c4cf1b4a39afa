#!/usr/bin/env bash
# Runs a three-node raftmq cluster as local processes (no Docker):
#   n1 http 127.0.0.1:9000  raft :9001  gossip :9002   data ./data/n1
#   n2 http 127.0.0.1:9010  raft :9011  gossip :9012   data ./data/n2
#   n3 http 127.0.0.1:9020  raft :9021  gossip :9022   data ./data/n3
# Ctrl-C, or a SIGTERM to this script (kill of `make cluster`), stops all
# three gracefully; if one node exits, the others are stopped too. Each
# node's output is prefixed with its id.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/raftmq}
DATA=${DATA:-./data}
pids=()    # the raftmq processes themselves, not their output filters
stopping=
stop() {
  [ -n "$stopping" ] && return
  stopping=1
  trap - INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # A node exits within its 25 s shutdown bound; past 35 s it is killed.
    for _ in $(seq 350); do
      alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT
for i in 1 2 3; do
  base=$((9000 + (i - 1) * 10))
  # The node writes into a process substitution, so $! below is the node's
  # pid (a pipeline's $! would be its last command: the prefixing sed).
  "$BIN" serve --node-id "n$i" --data-dir "$DATA/n$i" \
    --http-addr "127.0.0.1:$base" --raft-addr "127.0.0.1:$((base + 1))" --gossip-addr "127.0.0.1:$((base + 2))" \
    --bootstrap-expect 3 --join 127.0.0.1:9002,127.0.0.1:9012,127.0.0.1:9022 \
    > >(sed -u "s/^/n$i | /") 2>&1 &
  pids+=($!)
done
# Return as soon as any node exits (wait -n), then stop the rest.
wait -n "${pids[@]}" || true
