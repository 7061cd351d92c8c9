# Promote's build. `make demo` and `make test` are the two set-up commands;
# everything a test needs is installed from here into .tools/.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
ACTIONLINT_VERSION := v1.7.12
STATICCHECK_VERSION := v0.8.2
VERSITYGW_VERSION := v1.8.0
COSIGN_VERSION := v2.6.1
ACT_VERSION := v0.2.89
GORELEASER_VERSION := v2.17.0
CYCLONEDX_GOMOD_VERSION := v1.10.0
# istioctl, built from the same Istio commit Promote validates with; only the
# mesh benchmarks use it, to compare (about 10 minutes to build).
ISTIO_VERSION = $(shell $(GO) list -m -f '{{.Version}}' istio.io/istio 2>/dev/null)
# The SARIF 2.1.0 JSON schema (OASIS, rtm.5) as Microsoft ships it in npm;
# the SARIF tests validate Promote's output against it.
SARIF_SCHEMA_PACKAGE := @microsoft/jest-sarif@1.0.0-beta.0
SARIF_SCHEMA_SHA256 := 748e2c3d1a842e7bb258416685c7ea3a0da40005b72267b2052c2856d48ad102
FUZZTIME ?= 20s
BENCHTIME ?= 20x

.PHONY: all build test unit e2e fuzz fuzz-build lint bench bench-mesh mutants demo tools prometheus release-tools release-check clean

all: build

build:
	$(GO) build -trimpath -o bin/promote ./cmd/promote

# The tools are linked without debugging information: nobody debugs them
# here, and it saves a cold build a part of each link. The two largest, which
# the tests only start (a few S3 requests, a few verifications), are also
# compiled without optimizations, a fifth less compiling; the standard
# library keeps its usual flags, so it is compiled once for all the tools.
TOOL_FLAGS := -ldflags='-s -w'
QUICK_TOOL_FLAGS := $(TOOL_FLAGS) -gcflags='all=-N -l' -gcflags='std='

tools: $(TOOLS)/actionlint $(TOOLS)/staticcheck $(TOOLS)/versitygw $(TOOLS)/cosign $(TOOLS)/act $(TOOLS)/sarif-schema-2.1.0.json $(TOOLS)/goreleaser prometheus

# Prometheus 2.42 with its promtool, and the Pushgateway: Debian's packages,
# installed in about a minute when missing (building promtool takes about
# ten). The dashboards' and alerts' tests (internal/kpi/dashboards) check and
# unit-test the rules with promtool and evaluate every panel query with a
# real Prometheus; nothing starts the servers but those tests.
PROMTOOL := /usr/bin/promtool
PROMETHEUS := /usr/bin/prometheus
PUSHGATEWAY := /usr/bin/prometheus-pushgateway
prometheus:
	@if [ ! -x $(PROMTOOL) ] || [ ! -x $(PROMETHEUS) ] || [ ! -x $(PUSHGATEWAY) ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends prometheus prometheus-pushgateway; \
	fi

$(TOOLS)/actionlint:
	GOBIN=$(TOOLS) $(GO) install $(TOOL_FLAGS) github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install $(TOOL_FLAGS) honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# versitygw: a real S3 server that enforces Object Lock, which the S3 store's
# tests start on loopback.
$(TOOLS)/versitygw:
	GOBIN=$(TOOLS) $(GO) install $(QUICK_TOOL_FLAGS) github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# cosign: a verifier Promote did not write, which must accept its evidence.
$(TOOLS)/cosign:
	GOBIN=$(TOOLS) $(GO) install $(QUICK_TOOL_FLAGS) github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION)

# act: runs the example workflows end to end in host mode (make e2e).
$(TOOLS)/act:
	GOBIN=$(TOOLS) $(GO) install $(TOOL_FLAGS) github.com/nektos/act@$(ACT_VERSION)
# GoReleaser builds the release (.goreleaser.yaml); cyclonedx-gomod writes
# its SBOMs. The release workflow installs both with `make release-tools`;
# make test needs only goreleaser (release-check). Like cosign and versitygw
# it is compiled without optimizations: a third less compiling (217 instead
# of 328 CPU-seconds), while a release, whose time goes to the go build it
# starts, took 11.7 s instead of 10.7 (docs/testing.md).
$(TOOLS)/goreleaser:
	GOBIN=$(TOOLS) $(GO) install $(QUICK_TOOL_FLAGS) github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

$(TOOLS)/cyclonedx-gomod:
	GOBIN=$(TOOLS) $(GO) install $(TOOL_FLAGS) github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

release-tools: $(TOOLS)/goreleaser $(TOOLS)/cyclonedx-gomod

# goreleaser check, and a snapshot build of this machine's binary from
# .goreleaser.yaml (actions/release_test.go). It compiles promote once more,
# without the race detector and without cgo as the release does; make test
# runs it beside the fuzzers, whose run time is fixed, at a lower priority,
# so it costs the fuzzers some executions rather than CI wall time.
release-check: $(TOOLS)/goreleaser
	GORELEASER=$(TOOLS)/goreleaser nice -n 10 $(GO) test -count=1 -timeout 30m -run '^TestGoReleaser$$' ./actions

$(TOOLS)/sarif-schema-2.1.0.json:
	mkdir -p $(TOOLS) && tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent $(SARIF_SCHEMA_PACKAGE) >/dev/null) && \
	echo "$(SARIF_SCHEMA_SHA256)  $$(ls "$$tmp"/*.tgz)" | sha256sum -c --quiet && \
	tar -xzf "$$tmp"/*.tgz -C "$$tmp" package/lib/schemas/sarif-2.1.0-rtm.5.json && \
	mv "$$tmp"/package/lib/schemas/sarif-2.1.0-rtm.5.json $@

# Every test: lint, unit and end-to-end tests with the race detector, and a
# bounded fuzzing run of each parser. CI starts cold, so the order is chosen
# for a cold machine (docs/testing.md has the measurements): the tools build
# while the code is linted, filling the time one job leaves a core idle, and
# the lint compiles with -race, so the unit tests reuse every compiled
# package instead of compiling the dependencies a second time.
# Each phase prints how long it took.
test:
	@s=$$SECONDS; $(MAKE) --no-print-directory -j3 --output-sync=target lint tools; echo "make test: lint and tools in $$((SECONDS - s)) s"
	@s=$$SECONDS; $(MAKE) --no-print-directory -j2 --output-sync=target unit fuzz-build; echo "make test: unit tests in $$((SECONDS - s)) s"
	@s=$$SECONDS; $(MAKE) --no-print-directory -j3 --output-sync=target fuzz e2e release-check; echo "make test: fuzzing, end-to-end tests and release check in $$((SECONDS - s)) s"

# The tests run with the race detector. GOFLAGS carries it, with -trimpath,
# to every go command the tests start too: the setup action's test builds
# promote with `go build -trimpath`, which then reuses the packages compiled
# for the tests instead of compiling every dependency once more.
unit: tools
	VERSITYGW=$(TOOLS)/versitygw COSIGN=$(TOOLS)/cosign SARIF_SCHEMA=$(TOOLS)/sarif-schema-2.1.0.json \
	  PROMTOOL=$(PROMTOOL) PROMETHEUS=$(PROMETHEUS) PUSHGATEWAY=$(PUSHGATEWAY) \
	  GOFLAGS='$(RACE_GOFLAGS)' $(GO) test -race -shuffle=on -count=1 ./...

# The example workflows run end to end under act (e2e/, docs/workflows.md).
# They mostly wait on simulated deploys and approvals, so they run beside
# the fuzzers, whose time is fixed by -fuzztime. GOFLAGS carries the unit
# tests' -race -trimpath to the promote they build, so its packages come
# from the unit tests' compilation.
e2e: $(TOOLS)/act $(TOOLS)/versitygw
	ACT=$(TOOLS)/act VERSITYGW=$(TOOLS)/versitygw \
	  GOFLAGS='$(RACE_GOFLAGS)' $(GO) test -race -count=1 -timeout 15m ./e2e

# The fuzzers' instrumented packages, compiled beside the unit tests (whose
# last minutes leave a core idle) at a lower priority, so that the fuzzing
# itself starts at once.
FUZZ_PACKAGES := ./internal/manifest ./internal/actions ./internal/mesh ./internal/yamlnode ./internal/gateserver
fuzz-build:
	for p in $(FUZZ_PACKAGES); do nice -n 10 $(GO) test -c -o /dev/null -fuzz . $$p; done

# -fuzzminimizetime bounds how long each newly interesting input is
# minimized: by default it is up to a minute each, which left the mesh
# fuzzer minimizing its large seeds for the whole run.
FUZZ = $(GO) test -run '^$$' -fuzzminimizetime 100x
fuzz:
	$(FUZZ) -fuzz '^FuzzManifest$$' -fuzztime $(FUZZTIME) ./internal/manifest
	$(FUZZ) -fuzz '^FuzzEscape$$' -fuzztime 10s ./internal/actions
	$(FUZZ) -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/mesh
	$(FUZZ) -fuzz '^FuzzDuration$$' -fuzztime 10s ./internal/mesh
	$(FUZZ) -fuzz '^FuzzDirect$$' -fuzztime $(FUZZTIME) ./internal/mesh
	$(FUZZ) -fuzz '^FuzzFast$$' -fuzztime $(FUZZTIME) ./internal/yamlnode
	$(FUZZ) -fuzz '^FuzzParseDelivery$$' -fuzztime $(FUZZTIME) ./internal/gateserver

# staticcheck and vet build with the unit tests' flags (the race detector's
# instrumentation and -trimpath; no file of Promote depends on either), so
# that one compilation of every dependency serves all of them. staticcheck
# goes first: it also compiles the test variants.
RACE_GOFLAGS := -race -trimpath $(shell $(GO) env GOFLAGS)
lint: $(TOOLS)/staticcheck $(TOOLS)/actionlint
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted: $$unformatted"; exit 1; fi
	GOFLAGS='$(RACE_GOFLAGS)' $(TOOLS)/staticcheck ./...
	GOFLAGS='$(RACE_GOFLAGS)' $(GO) vet ./...
	$(TOOLS)/actionlint $(wildcard .github/workflows/*.yml .github/workflows/*.yaml examples/.github/workflows/*.yml examples/.github/workflows/*.yaml)

# Benchmarks; BENCHMARKS.md records the numbers. The plan benchmarks run on
# one core; the promotion benchmarks simulate hours of promotions against the
# in-memory GitHub on a scaled clock and take several minutes.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 -benchtime $(BENCHTIME) ./internal/dag
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 -benchtime 3x ./internal/manifest
	$(GO) test -run '^$$' -bench Makespan -benchtime 1x -timeout 60m -v ./internal/deploy
	$(GO) test -run '^$$' -bench LargePromotion -benchtime 1x -timeout 30m ./internal/deploy
	$(GO) test -run '^$$' -bench Verify -benchtime 1x ./internal/evidence
	$(GO) test -run '^$$' -bench DecisionLatency -benchtime 5x ./internal/gateserver
	VERSITYGW=$(TOOLS)/versitygw $(GO) test -run '^$$' -bench Upload -benchtime 1x ./internal/store
	$(MAKE) bench-mesh

# The mesh check on a generated corpus of 20,006 resources, layer by layer on
# one core, beside istioctl validate and analyze on the same corpus (skipped
# with a message when istioctl cannot be built); then on a realistic corpus
# (Istio's samples/, 10,500 documents), in process and as whole processes
# (bin/promote against istioctl validate, 5 paired runs).
bench-mesh: build
	-$(MAKE) $(TOOLS)/istioctl
	ISTIOCTL=$$([ -x $(TOOLS)/istioctl ] && echo $(TOOLS)/istioctl) \
	  $(GO) test -run '^$$' -bench '^Benchmark[^S]' -benchtime 3x -cpu 1,2 -timeout 30m ./internal/mesh
	ISTIOCTL=$$([ -x $(TOOLS)/istioctl ] && echo $(TOOLS)/istioctl) PROMOTE=bin/promote \
	  $(GO) test -run '^$$' -bench '^BenchmarkSamples' -benchtime 5x -cpu 1,2 -timeout 30m ./internal/mesh
	$(GO) test -run '^$$' -bench Eval -benchtime 3x -cpu 1 ./internal/policy

# Mutation testing: each hand-written mutant of .ci/mutants.txt (a bug a
# test must catch) is applied alone to a throwaway copy of the repository and
# its package's tests run (-short); the mutants no test kills are listed, and
# the target fails on any without an explanation. Not part of `make test`: it
# takes 10 to 15 minutes. docs/testing.md records the last run.
mutants:
	$(GO) run .ci/mutants.go

$(TOOLS)/istioctl:
	GOBIN=$(TOOLS) $(GO) install $(TOOL_FLAGS) istio.io/istio/istioctl/cmd/istioctl@$(ISTIO_VERSION)

# The main job on the example repository's embedded defaults: check its
# Istio configuration, plan it, promote it with each service's deploy script (soak times shortened to 2s),
# sealing signed evidence in examples/.promote (key made on first use), and
# verify the evidence chain. Run again, it deploys nothing: every node
# already succeeded for the commit (PROMOTE_FORCE=1 deploys them again).
#
# Evidence names the commit promoted. In a git checkout promote reads HEAD;
# a source archive made by git archive (GitHub's downloads are) has no .git
# but names its commit in .git_archival.txt; any other copy must be told
# with PROMOTE_COMMIT=<full SHA>.
ARCHIVE_COMMIT = $(shell sed -n 's/^node: \([0-9a-f]\{40\}\)$$/\1/p' .git_archival.txt 2>/dev/null)
demo: export PROMOTE_COMMIT := $(or $(PROMOTE_COMMIT),$(ARCHIVE_COMMIT))
demo:
	@if [ -z "$$PROMOTE_COMMIT" ] && ! git -C examples rev-parse -q --verify HEAD >/dev/null 2>&1; then \
	  echo "make demo: this copy is no git checkout and names no commit, and the demo records which commit it promotes." >&2; \
	  echo "Run it in a git checkout or in a source archive made by git archive (GitHub's downloads are)," >&2; \
	  echo "or name the commit these files are from: make demo PROMOTE_COMMIT=<full 40-hex SHA>" >&2; \
	  exit 2; \
	fi
	$(MAKE) build
	cd examples && ../bin/promote mesh check
	cd examples && ../bin/promote plan
	cd examples && ../bin/promote run --soak 2s --status-file ../bin/promote-status.json $(if $(PROMOTE_FORCE),--force)
	cd examples && ../bin/promote evidence verify

clean:
	rm -rf bin .tools
