# raftmq: one target per verb. `make run` and `make test` are the two set-up
# commands of README.md; .ci/run calls `make test`.
GO        ?= go
BIN       := bin/raftmq
DATA_DIR  ?= ./data
PKGS      := ./...

.PHONY: build run cluster test test-short vet fmt-check bench loadtest chaos chaos-negative image up up-secure down compose-check deploy-check clean

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/raftmq

run: build
	$(BIN) serve --data-dir $(DATA_DIR)

# Three local processes on 127.0.0.1:9000, :9010, :9020 (scripts/cluster.sh).
cluster: build
	scripts/cluster.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every test: unit, fuzz seed corpora plus a short fuzz run of each target,
# real single-node HTTP tests, and multi-process tests.
test: vet fmt-check build
	$(GO) test -race -count=1 -timeout 10m $(PKGS)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 2000x ./fsm
	$(GO) test -run '^$$' -fuzz '^FuzzCatalogueCommand$$' -fuzztime 2000x ./cluster/catalogue
	$(GO) test -run '^$$' -fuzz '^FuzzParseHandler$$' -fuzztime 2000x ./httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzSplitObject$$' -fuzztime 2000x ./httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzMQXMLBodies$$' -fuzztime 2000x ./httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzParseSDKAuthorization$$' -fuzztime 2000x ./httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzParseMQAuthorization$$' -fuzztime 2000x ./httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzParseCredentials$$' -fuzztime 2000x ./httpapi

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Fault injection (docs/RELIABILITY.md): scenarios T0-T3 against three nodes
# in network namespaces, then the negative control. Needs root, ip and
# iptables. SCENARIOS, CHAOS_DURATION, CHAOS_RUNS and SEED select what runs;
# T4 (netem, deaf leader; needs tc and the kernel's sch_netem), T6 (power
# loss; needs /dev/fuse), T7 (corruption), T8 (clock offsets) and T9 (one
# node's file system filled; needs tmpfs) run only when named: make chaos
# SCENARIOS=T8; so does T5 (membership: remove a follower, wipe it, add it
# back). CHAOS_NODES sets the cluster size (T1 on five nodes: make chaos
# SCENARIOS=T1 CHAOS_NODES=5). NEGATIVE is the negative control's
# scenario: T1 (ack before commit) or T6 (fsync off, power losses).
SCENARIOS      ?= T0,T1,T2,T3
CHAOS_DURATION ?= 2m
CHAOS_RUNS     ?= 1
SEED           ?= 0
NEGATIVE       ?= T1
CHAOS_NODES    ?= 3
chaos: build
	$(GO) run ./cmd/chaos --raftmq $(BIN) --scenario $(SCENARIOS) --duration $(CHAOS_DURATION) --runs $(CHAOS_RUNS) --seed $(SEED) --nodes $(CHAOS_NODES)
	$(GO) run ./cmd/chaos --raftmq $(BIN) --scenario $(NEGATIVE) --duration 40s --short --negative-control --seed $(SEED)

chaos-negative: build
	$(GO) run ./cmd/chaos --raftmq $(BIN) --scenario $(NEGATIVE) --duration 40s --short --negative-control --seed $(SEED)

# Go benchmarks, then W1 against a local three-node cluster (scripts/bench.sh;
# a few minutes; report under bench-results/<timestamp>/).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./fsm ./partition ./httpapi
	scripts/bench.sh

# raftmq loadtest against a running cluster, by default the one of
# `make cluster`: make loadtest WORKLOAD=mixed ARGS='--duration 10s'
URL      ?= http://127.0.0.1:9000,http://127.0.0.1:9010,http://127.0.0.1:9020
WORKLOAD ?= mixed
loadtest: build
	$(BIN) loadtest --target $(URL) --workload $(WORKLOAD) $(ARGS)

# Docker: an image FROM scratch around the static binary, and a three-node
# compose cluster on 127.0.0.1:19001..19003 (host ports from RAFTMQ_PORT_1..3
# when set). COMPOSE is `docker compose` (v2) or `docker-compose` (v1),
# whichever is installed (scripts/compose.sh); set it to choose.
COMPOSE ?= scripts/compose.sh
image: build
	docker build -t raftmq:dev .

up: image
	$(COMPOSE) up -d

# The same three nodes with a cluster key (docker-compose.secure.yml): gossip,
# Raft and node-to-node requests authenticated and encrypted. Makes
# ./cluster.key (mode 0600) on first use.
up-secure: image
	@test -f cluster.key || (umask 077; $(BIN) keygen > cluster.key)
	$(COMPOSE) -f docker-compose.yml -f docker-compose.secure.yml up -d

down:
	$(COMPOSE) down -v

compose-check: image
	COMPOSE='$(COMPOSE)' scripts/compose-check.sh

# The Prometheus files of deploy/: syntax, and the alert rules' unit tests.
# Needs promtool (Debian's prometheus package).
deploy-check:
	promtool check config deploy/prometheus.yml
	cd deploy && promtool test rules prometheus-alerts_test.yml

clean:
	rm -rf bin data bench-results
