#!/usr/bin/env bash
# Brings the docker-compose cluster up, produces, consumes and acks through
# each node, stops one container, shows service continuing, and tears the
# cluster down. Exits non-zero on any failure. Needs docker and Docker
# Compose, v2 (`docker compose`) or v1 (`docker-compose`): COMPOSE names the
# command, scripts/compose.sh (either one) by default. The host ports are
# those of docker-compose.yml: RAFTMQ_PORT_1..3, 19001..19003 when unset.
set -euo pipefail
cd "$(dirname "$0")/.."
COMPOSE=${COMPOSE:-scripts/compose.sh}
P1=${RAFTMQ_PORT_1:-19001} P2=${RAFTMQ_PORT_2:-19002} P3=${RAFTMQ_PORT_3:-19003}
PORTS=("$P1" "$P2" "$P3")
P=compose-check

cleanup() { $COMPOSE down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() { echo "compose-check: FAIL: $*" >&2; $COMPOSE logs --tail=50 >&2 || true; exit 1; }

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# req METHOD PORT PATH [BODY] -> prints body; fails on a non-2xx answer
req() {
  local out code
  out=$(curl -sS -m 15 -o /dev/stdout -w '\n%{http_code}' -X "$1" "http://127.0.0.1:$2$3" ${4:+-d "$4"}) || return 1
  code=${out##*$'\n'}
  [[ $code == 2* ]] || { echo "HTTP $code: ${out%$'\n'*}" >&2; return 1; }
  printf '%s' "${out%$'\n'*}"
}

# retry N CMD...: retries a command every 0.5 s, N times at most
retry() { local n=$1; shift; for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.5; done; return 1; }

ready() { curl -fsS -m 2 "http://127.0.0.1:$1/ready" >/dev/null 2>&1; }

cleanup
echo "compose-check: starting three nodes"
$COMPOSE up -d >/dev/null
for p in "${PORTS[@]}"; do retry 120 ready "$p" || fail "node on port $p not ready"; done

Q=$(retry 20 req POST "$P1" /v1.0/$P/queues '{"name":"q1"}' | json 'd["id"]') || fail "create queue"
G=$(retry 20 req POST "$P2" /v1.0/$P/queues/$Q/groups '{"groups":[{"name":"g1"}]}' | json 'd["groups"][0]["id"]') || fail "create group"

produce() { retry 20 req POST "$1" /v1.0/$P/queues/$Q/messages "{\"messages\":[{\"body\":\"$2\"}]}" >/dev/null; }
# drain PORT COUNT: consume and ack through PORT until COUNT messages came
drain() {
  local port=$1 want=$2 got=0 body handlers acks
  for ((i = 0; i < 40 && got < want; i++)); do
    body=$(req GET "$port" "/v1.0/$P/queues/$Q/groups/$G/messages?max_msgs=$((want - got))&time_wait=1") || { sleep 0.5; continue; }
    handlers=$(printf '%s' "$body" | json '" ".join(m["handler"] for m in d)')
    [[ -z $handlers ]] && continue
    acks=$(printf '%s' "$body" | json 'json.dumps({"message":[{"handler":m["handler"],"status":"success"} for m in d]})')
    req POST "$port" "/v1.0/$P/queues/$Q/groups/$G/ack" "$acks" | json 'd["success"]' >/dev/null || fail "ack through $port"
    got=$((got + $(printf '%s' "$body" | json 'len(d)')))
  done
  [[ $got -ge $want ]] || fail "consumed $got of $want through $port"
}

for p in "${PORTS[@]}"; do
  for k in 1 2 3; do produce "$p" "via-$p-$k" || fail "produce through $p"; done
done
for p in "${PORTS[@]}"; do drain "$p" 3; done
echo "compose-check: produce, consume and ack work through every node"

echo "compose-check: stopping n1"
$COMPOSE kill n1 >/dev/null
for p in "$P2" "$P3"; do
  for k in 1 2 3; do produce "$p" "after-$p-$k" || fail "produce through $p with n1 down"; done
done
drain "$P2" 3
drain "$P3" 3
echo "compose-check: service continues with n1 down"

$COMPOSE start n1 >/dev/null
retry 120 ready "$P1" || fail "n1 did not come back"
produce "$P1" "back" || fail "produce through restarted n1"
drain "$P1" 1
echo "compose-check: PASS"
