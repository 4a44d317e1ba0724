# gearshift: the two set-up commands of the README are `make demo` and
# `make test`. Both work on a fresh Debian machine with Go.

GO      ?= go
BIN     := bin/gearshift
PKGS    := ./...

.PHONY: all build deps test fuzz demo demo-clean demo-gear dist dist-checksums bench bench-load bench-plan bench-apply bench-fleet bench-proxy bench-kube bench-serve lint clean release-snapshot image kube-testenv

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gearshift

deps:
	./scripts/install-deps.sh

# The test command of the README and of .ci/run. The Kubernetes tests run
# against a real control plane, built once by kube-testenv and cached.
test: deps
	$(GO) vet $(PKGS)
	$(MAKE) fuzz
	GEARSHIFT_KUBE_ASSETS=$$(./scripts/kube-testenv.sh) && export GEARSHIFT_KUBE_ASSETS && \
	  $(GO) test -count=1 -timeout 20m $(PKGS)

# etcd, kube-apiserver and kube-controller-manager for the Kubernetes tests,
# built from the Go module proxy (pinned by scripts/kubeenv) and cached
# keyed on its go.sum; prints their directory. Minutes cold, a second warm.
kube-testenv:
	./scripts/kube-testenv.sh

# Every fuzz target of a parser of untrusted input, FUZZTIME each (go test
# runs one target at a time). Minimisation is cut short, so that a crash
# found near the end is still reported within the time: a crasher is
# written under the package's testdata/fuzz and fails the run. A bare
# "context deadline exceeded" with no failing input is Go 1.26's fuzz
# coordinator racing its own -fuzztime deadline on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27), not a finding: it is reported and
# the run goes on.
FUZZTIME ?= 20s
fuzz:
	@set -e; for t in $$(grep -rl --include='*_test.go' '^func Fuzz' internal | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz $$t $$f ($(FUZZTIME))"; \
	    if ! $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./$$t/ >/tmp/gearshift-fuzz.log 2>&1; then \
	      if grep -qx '    context deadline exceeded' /tmp/gearshift-fuzz.log && ! grep -q 'Failing input written' /tmp/gearshift-fuzz.log; then \
	        echo "$$f: the fuzz coordinator's deadline race of Go 1.26 (go.dev/issue/75804): no input failed"; \
	      else cat /tmp/gearshift-fuzz.log; exit 1; fi; \
	    fi; \
	    tail -n 1 /tmp/gearshift-fuzz.log; \
	  done; \
	done

# The main job on the embedded default: the demo state in environments/,
# on this machine: deploys dev (scripts/demo.sh says what and where).
demo: deps build demo-gear dist
	./scripts/demo.sh

# Stop the demo's services and HAProxy, and remove its files.
demo-clean:
	./scripts/demo.sh clean

# demo-gear for the demo's verify commands (./bin/demo-gear check URL).
demo-gear:
	$(GO) build -o bin/demo-gear ./cmd/demo-gear

# The demo's release tarballs, dist/<unit>-<version>.tar.gz and
# dist/SHA256SUMS, built reproducibly and checked against the checksums
# committed in environments/*/units.cue (scripts/mkdist says what to do
# when they differ).
dist:
	$(GO) run ./scripts/mkdist

# Write this machine's tarball checksums into the demo state, after a change
# to cmd/demo-gear or on another toolchain or platform.
dist-checksums:
	$(GO) run ./scripts/mkdist -update

# Benchmarks print their figures; none of them is a pass/fail test.
bench: bench-load bench-plan bench-apply bench-fleet bench-proxy bench-kube bench-serve

bench-load: build
	$(GO) build -o bin/cue cuelang.org/go/cmd/cue
	$(GO) run ./internal/bench/loadbench -gearshift $(BIN) -cue bin/cue

# apply of 200 demo-gear units on this machine (host driver, local
# transport, process manager) at the default parallelism: wall time.
bench-apply: build
	$(GO) run ./internal/bench/applybench -gearshift $(BIN)

# gearshift against a fleet of SSH hosts: one real sshd answering on
# 127.0.x.y for FLEET hosts, one unit on all of them (recreate, a tiny
# artifact over HTTP on loopback): wall time and CPU of apply and status.
FLEET ?= 50,200,1000
bench-fleet: build
	$(GO) run ./internal/bench/fleetbench -gearshift $(BIN) -hosts $(FLEET)

# Proxy switches under load (issue 12): a strict keep-alive client against
# real HAProxy (blue/green and rolling over 3 hosts) and nginx (reload, the
# control; in front of rolling hosts with its defaults and with the settings
# docs/host-layout.md recommends): requests, failed requests by kind, switch
# and switch-back times, and the time from "live" reported to the last old
# response.
bench-proxy:
	GEARSHIFT_BENCH_PROXY=1 $(GO) test -count=1 -v -run 'UnderLoad|ReloadControl' -bench NginxRolling -benchtime 1x ./internal/bench/proxybench/ | grep -v -e '^=== ' -e '^--- PASS' -e '^    proxybench_test' -e '^    --- BENCH' -e '^--- BENCH' -e '^Benchmark' -e '^goos:' -e '^goarch:' -e '^pkg:' -e '^cpu:'

# Observe 500 Deployments of one namespace on a real control plane (issue
# 11): wall time and API requests per observation of the environment.
bench-kube:
	GEARSHIFT_KUBE_ASSETS=$$(./scripts/kube-testenv.sh) && export GEARSHIFT_KUBE_ASSETS && \
	  $(GO) test -count=1 -run '^$$' -bench 'Observe500' -benchtime 5x ./internal/driver/kubernetes/

# gearshift serve (issue 13), the real binary against a real git
# http-backend: pushed -> signed webhook -> first deploy action started
# (p50/p95 of 20 pushes), the same by polling at 5 s (and what the default
# 60 s implies), and 2,000 units x 3 environments: memory at rest and the
# cost of a one-line change; then the takeover of a killed replica's
# environments with serve's default Lease timings (3 replicas, a real
# control plane). GEARSHIFT_BENCH_SERVE_DEFAULT_POLL=N adds N pushes found
# by polling at the default 60 s (about 70 s each).
bench-serve:
	GEARSHIFT_BENCH_SERVE=1 $(GO) test -count=1 -v -timeout 30m -run TestServeBench ./internal/bench/servebench/ | grep -v -e '^=== ' -e '^--- PASS' -e '^    --- PASS'
	GEARSHIFT_KUBE_ASSETS=$$(./scripts/kube-testenv.sh) && export GEARSHIFT_KUBE_ASSETS && \
	  GEARSHIFT_BENCH_ELECT_DEFAULTS=1 $(GO) test -count=1 -v -run 'TestServeLeaderElection$$' ./internal/cli/ | grep 'taken over'

bench-plan: build
	$(GO) run ./internal/bench/loadbench -gearshift $(BIN) -plan 2000
	$(GO) test -run '^$$' -bench 'BenchmarkObserveSlow' -benchtime 3x ./internal/driver/

# The release archives, checksums and SBOMs (.goreleaser.yaml) of this
# commit, built into dist/release without publishing. goreleaser and
# cyclonedx-gomod (the SBOMs) come from the Go module proxy; the first run
# builds them (about 7 minutes), then about 7 more to build gearshift for
# four platforms from a cold cache.
GORELEASER ?= $(GO) run github.com/goreleaser/goreleaser/v2@v2.15.1
# The container image, without a Docker daemon: dist/gearshift-image.tar
# (docker load / podman load), gearshift as the entrypoint, run as uid
# 65532 (scripts/mkimage; its test reads the image back and runs it).
image:
	mkdir -p dist
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -o dist/linux/gearshift ./cmd/gearshift
	$(GO) run ./scripts/mkimage -binary dist/linux/gearshift -arch $$($(GO) env GOARCH) -tag gearshift:snapshot -o dist/gearshift-image.tar

release-snapshot:
	$(GORELEASER) release --snapshot --clean --skip=publish

clean:
	rm -rf bin dist
