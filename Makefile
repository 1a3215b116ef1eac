# winrelay: the two set-up commands are `make run` and `make test`. Both install what is
# missing (and nothing that is there), build, and then run. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
RELAY_ARGS ?=

.PHONY: help run test build frontend relay deps test-deps bench fmt lint fuzz soak clean

help:
	@echo "make run    - install what is missing, build, start the relay with its demo target"
	@echo "make test   - install what is missing, run every test (Rust, conformance, browser)"
	@echo "make bench  - measure winrelay against its peers"
	@echo "make fmt / make lint - rustfmt, clippy with warnings as errors"
	@echo "make fuzz   - run the fuzz targets (FUZZ_SECONDS each)"
	@echo "make soak   - SOAK_SESSIONS sessions for SOAK_MINUTES minutes"

# --- installing ---------------------------------------------------------------------------
deps:
	@scripts/install-wasm-toolchain.sh

test-deps: deps
	@scripts/install-browser-deps.sh
	@scripts/install-python-deps.sh
	@scripts/install-test-servers.sh

# --- building -----------------------------------------------------------------------------
frontend: deps
	@scripts/build-frontend.sh

relay: frontend
	$(CARGO) build --release -p winrelay

build: relay

# --- running ------------------------------------------------------------------------------
run: relay
	@echo "Starting winrelay (Ctrl+C stops it; every shell is ended on the way out)."
	target/release/winrelay serve $(RELAY_ARGS)

# --- testing ------------------------------------------------------------------------------
test: test-deps frontend
	@scripts/test-all.sh

bench: relay
	@scripts/bench.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p winrelay-frontend --all-targets -- -D warnings

# Fuzz every target (default 20 s each; FUZZ_SECONDS=600 for a longer run).
FUZZ_SECONDS ?= 20
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# Soak: many sessions connecting, typing, disconnecting and resuming (not part of make test).
SOAK_SESSIONS ?= 200
SOAK_MINUTES ?= 10
soak:
	@scripts/soak.sh $(SOAK_SESSIONS) $(SOAK_MINUTES)

clean:
	rm -rf target dist node_modules .venv test-output
