# Developer entry points. `make unit` needs no cluster.
CARGO ?= cargo

.PHONY: fmt-check lint unit crds

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

# Library and binary unit tests plus the integration tests that need no cluster.
unit:
	$(CARGO) test --lib --bins --test crds_up_to_date

crds:
	$(CARGO) run -q -- crd --dir crds

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
