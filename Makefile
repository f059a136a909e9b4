# sessionq developer commands. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 20m
BENCHFLAGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
COMMIT    ?= $(shell git describe --always --dirty --abbrev=40 --match=NeVeRmAtCh 2>/dev/null)

build: ## build the sessionq binary into ./bin (--version names the commit)
	$(GO) build -ldflags "-X github.com/sessionq/sessionq/cmd/sessionq/cli.commit=$(COMMIT)" -o bin/sessionq ./cmd/sessionq

.PHONY: test
test: ## run every test with the race detector against a real Redis (progress per test), then the deploy checks
	$(GO) vet $(PKGS)
	$(GO) build -o .cache/testprogress ./tools/testprogress
	$(GO) test -json $(TESTFLAGS) $(PKGS) | .cache/testprogress
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: test-sentinel
test-sentinel: ## run the Sentinel failover tests alone (also part of test; needs redis-sentinel)
	$(GO) test $(TESTFLAGS) -run 'TestSentinel' -v ./internal/redistest/ ./tools/e2e/

.PHONY: chaos
chaos: ## run the fault-injection scenarios (kill, pause, cut, restart, soak; ~15 min; CHAOS_RUN=regexp picks some)
	SESSIONQ_CHAOS=1 $(GO) test -count=1 -v -timeout 60m -run '$(or $(CHAOS_RUN),.)' ./tools/chaos/

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	@$(GO) list -f '{{.ImportPath}}' ./... | while read p; do \
	  for f in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "fuzz $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} $$p || exit 1; \
	  done; \
	done

.PHONY: bench
bench: ## run the sessionq bench (every scenario against raw asynq, one Redis)
	$(GO) run ./cmd/sessionq bench $(BENCHFLAGS)

.PHONY: bench-fleet
bench-fleet: ## run fleets of 1, 2, 4 and 8 worker processes, sessionq and raw asynq, on one Redis
	$(GO) run ./cmd/sessionq bench-fleet $(BENCHFLAGS)

.PHONY: bench-go
bench-go: ## run the go test benchmarks of the hot paths (compare runs with benchstat)
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./cmd/sessionq/bench/ | tee bench.out

.PHONY: lint
lint: ## gofmt, go vet, and golangci-lint where it is installed
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	@if command -v golangci-lint >/dev/null; then golangci-lint run; else echo "golangci-lint not installed: skipped"; fi

.PHONY: tidy
tidy: ## tidy go.mod and go.sum (and deploy/'s)
	$(GO) mod tidy
	cd deploy && $(GO) mod tidy

.PHONY: demo
demo: ## run the demo on an embedded Redis
	$(GO) run ./cmd/sessionq demo
