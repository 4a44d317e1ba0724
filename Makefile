# gearshift: the two set-up commands of the README are `make demo` and
# `make test`. Both work on a fresh Debian machine with Go.

GO      ?= go
BIN     := bin/gearshift
PKGS    := ./...

.PHONY: all build deps test demo bench bench-load bench-plan lint clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gearshift

deps:
	./scripts/install-deps.sh

# The test command of the README and of .ci/run.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)

# The main job on the embedded default: the demo state in environments/,
# on this machine.
demo: deps build
	./scripts/demo.sh

# Benchmarks print their figures; none of them is a pass/fail test.
bench: bench-load bench-plan

bench-load: build
	$(GO) build -o bin/cue cuelang.org/go/cmd/cue
	$(GO) run ./internal/bench/loadbench -gearshift $(BIN) -cue bin/cue

bench-plan: build
	$(GO) run ./internal/bench/loadbench -gearshift $(BIN) -plan 2000
	$(GO) test -run '^$$' -bench 'BenchmarkObserveSlow' -benchtime 3x ./internal/driver/

clean:
	rm -rf bin dist
