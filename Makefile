# clusterset. Run `make help` for the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN := $(CURDIR)/bin
export CLUSTERSET_BIN_DIR := $(BIN)
# Test traffic goes to 127.0.0.1 only; never through the environment's proxy.
unexport http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

GO_TEST_FLAGS ?= -count=1 -timeout 45m
# The syncer's version, written on its heartbeat Lease (kubectl clusterset members shows it).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)

.PHONY: help tools test-tools build test demo demo-smoke bench bench-dns bench-sync bench-scale lint

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

tools: ## Build the pinned control-plane binaries into bin/ (cached; see README for cold times).
	@test/tools/build.sh etcd kubernetes

test-tools: ## Build bin/helm and bin/promrules, which only the tests use (cached like tools).
	@test/tools/build.sh helm promrules

build: ## Build bin/coredns, bin/clusterset-syncer, bin/clusterset-corefile, bin/kubectl-clusterset, bin/localenv and bin/demo.
	@test/tools/progress.sh "build: coredns" . -o $(BIN)/coredns ./build/coredns
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/clusterset-syncer ./build/syncer
	go build -o $(BIN)/clusterset-corefile ./build/corefile
	go build -o $(BIN)/kubectl-clusterset ./build/kubectl-clusterset
	go build -o $(BIN)/localenv ./test/cmd/localenv
	go build -o $(BIN)/demo ./test/cmd/demo

test: tools test-tools build ## Run every test: unit, and integration against real apiservers.
	go test $(GO_TEST_FLAGS) ./...

# The demo runs as its own binary rather than under `go run`, which turns the demo's clean exit
# after Ctrl-C into exit status 1 and a make error.
demo: tools build ## Run a local clusterset with the syncer and CoreDNS, and dig it. Ctrl-C stops.
	$(BIN)/demo

demo-smoke: tools build ## The demo, non-interactive: check the answers, tear down, fail on a mismatch.
	$(BIN)/demo --smoke

bench: bench-dns bench-sync bench-scale ## Run every benchmark.

bench-dns: tools build ## DNS: our plugin vs stock kubernetes multicluster vs a bare miekg/dns server.
	go run ./test/bench/dnsbench

bench-sync: tools build ## Syncer: export and endpoint latencies, cold convergence, writes.
	go run ./test/bench/syncbench

BENCH_SCALE_FLAGS ?=
bench-scale: tools ## Syncer at 10, 5 and 3 clusters: convergence, writes, RSS/CPU, latency split. Flags: BENCH_SCALE_FLAGS.
	go run ./test/bench/scalebench $(BENCH_SCALE_FLAGS)

lint: ## go vet and staticcheck (built from its pin on first use).
	@test/tools/build.sh lint
	go vet ./...
	$(BIN)/staticcheck ./...
