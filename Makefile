# Developer entry points. `make unit` needs no cluster.
CARGO ?= cargo

.PHONY: fmt-check lint unit crds

fmt-check:
	$(CARGO) fmt --all -- --check

# Clippy, and no import cycles between sibling modules (tests/offline/module_cycles.rs).
lint:
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test -q --test offline_module_cycles

# Library and binary unit tests plus the integration tests that need no
# cluster (the `offline_*` targets, tests/offline/; see tests/README.md).
OFFLINE_TESTS = $(patsubst tests/offline/%.rs,--test offline_%,$(wildcard tests/offline/*.rs))
unit:
	$(CARGO) test --lib --bins $(OFFLINE_TESTS)

crds:
	$(CARGO) run -q -- crd --dir crds

.PHONY: readme

# Rewrites the CRD reference at the end of README.md from the CRD schemas
# (tests/offline/readme_reference.rs fails when it is stale).
readme:
	$(CARGO) run -q -- crd --readme README.md

.PHONY: test cluster-up cluster-down

# The whole suite, unit to end-to-end, against the real local control plane
# (built and started by tests/run-all, stopped on exit). What .ci/run runs.
test:
	tests/run-all

# A long-lived local cluster for development: `eval "$$(make -s cluster-up)"`.
cluster-up:
	@tests/cluster/up

cluster-down:
	@tests/cluster/down

.PHONY: demo demo-down

# The seed's walkthrough on the local control plane; stays up for exploring.
demo:
	tests/demo/demo

demo-down:
	tests/demo/demo down

.PHONY: bench bench-smoke

# Benchmarks of issue 7, not part of the test suite: release builds, their own
# control plane and Jaeger (/tmp/tv-bench, ports 30000+), one table printed
# and written to bench/RESULTS.md. Extra flags: `make bench BENCH_ARGS="--rows 6,7"`.
BENCH_ARGS ?=
bench:
	bench/run --write bench/RESULTS.md $(BENCH_ARGS)

# The harness on tiny sizes (one repetition, N = 5): fails unless every row
# produces a figure. Its own control plane (/tmp/tv-bench-smoke, ports 30700+).
bench-smoke:
	bench/run --smoke $(BENCH_ARGS)

.PHONY: soak

# Reliability suite of issue 8 at the issue's sizes (10 rounds x 200
# TracedServices + 50 EvaluationTasks with random operator kills, API server
# restart and etcd pause, conflicts, leader failover), not part of `make
# test`: its own control plane (/tmp/traceval-soak, ports 25000+ and 26500+),
# and the "Operator faults" section of bench/RELIABILITY.md rewritten.
soak:
	tests/reliability/soak

.PHONY: fuzz

# Fuzzing of issue 8 (cargo-fuzz, not part of CI): each target in fuzz/ for
# FUZZ_SECONDS (default 60) seconds; results in bench/RELIABILITY.md, "Fuzzing".
fuzz:
	bench/fuzz
