# sessionq developer commands. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -race -count=1 -timeout 20m
BENCHFLAGS ?=

# The OpenAPI linters, pinned, installed by `make api-tools` (and .ci/run)
# into NPM_PREFIX with the machine's npm.
NPM_PREFIX       ?= $(CURDIR)/.cache/npm
REDOCLY_VERSION  ?= 2.77.0
SPECTRAL_VERSION ?= 6.16.3
API_DOCS         ?= api/openapi.json api/openapi-3.0.json
# Redocly: no telemetry, no update notice.
API_LINT_ENV      = PATH="$(NPM_PREFIX)/bin:$$PATH" REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
COMMIT    ?= $(shell git describe --always --dirty --abbrev=40 --match=NeVeRmAtCh 2>/dev/null)

build: ## build the sessionq binary into ./bin (--version names the commit)
	$(GO) build -ldflags "-X github.com/sessionq/sessionq/cmd/sessionq/cli.commit=$(COMMIT)" -o bin/sessionq ./cmd/sessionq

.PHONY: test
test: ## run every test with the race detector against a real Redis (progress per test), then the deploy checks and the API's (lint, breaking changes)
	$(GO) vet $(PKGS)
	@$(MAKE) --no-print-directory lint-api-if-installed
	$(GO) build -o .cache/testprogress ./tools/testprogress
	$(GO) test -json $(TESTFLAGS) $(PKGS) | .cache/testprogress
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd tools/apidiff && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: api-tools
api-tools: ## install the pinned OpenAPI linters (Redocly CLI, Spectral) into .cache/npm with npm
	npm install --global --prefix "$(NPM_PREFIX)" --no-fund --no-audit --loglevel=error \
	  @redocly/cli@$(REDOCLY_VERSION) @stoplight/spectral-cli@$(SPECTRAL_VERSION)

.PHONY: lint-api
lint-api: ## lint the committed OpenAPI documents (api/) with Redocly's recommended and Spectral's oas rulesets: no errors
	@for f in $(API_DOCS); do \
	  echo "lint-api: redocly lint --extends recommended $$f"; \
	  out=$$($(API_LINT_ENV) redocly lint --extends recommended --format stylish "$$f" 2>&1); rc=$$?; \
	  printf '%s\n' "$$out" | grep -vF -e '║' -e '╔' -e '╚'; [ $$rc -eq 0 ] || exit 1; \
	  echo "lint-api: spectral lint --ruleset .spectral.yaml $$f"; \
	  $(API_LINT_ENV) spectral lint --ruleset .spectral.yaml --fail-severity error "$$f" || exit 1; \
	done

# lint-api where the linters are installed; in CI (CI=true) their absence
# fails, elsewhere it is skipped with a message.
.PHONY: lint-api-if-installed
lint-api-if-installed:
	@export $(API_LINT_ENV); \
	if command -v redocly >/dev/null 2>&1 && command -v spectral >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory lint-api; \
	elif [ "$$CI" = true ]; then \
	  echo "lint-api: redocly and spectral are not installed, and CI=true needs them: run make api-tools (.ci/run does)" >&2; exit 1; \
	else \
	  echo "lint-api: redocly or spectral not installed: skipped (make api-tools installs them into .cache/npm)"; \
	fi

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
tidy: ## tidy go.mod and go.sum (and deploy/'s and tools/apidiff/'s)
	$(GO) mod tidy
	cd deploy && $(GO) mod tidy
	cd tools/apidiff && $(GO) mod tidy

.PHONY: demo
demo: ## run the demo on an embedded Redis
	$(GO) run ./cmd/sessionq demo
