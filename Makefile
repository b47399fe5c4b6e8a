# Every target bootstraps .venv itself; a second run is a no-op when pyproject.toml has not changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all demo test lint typecheck unit mutate mutate-sample bench bench-quick soak sandbox clean venv generate browser

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	@$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@$(BIN)/roomsync demo

sandbox: $(STAMP)
	@$(BIN)/roomsync sandbox

lint: $(STAMP)
	$(BIN)/ruff check operator tests benchmarks
	$(BIN)/ruff format --check operator tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The health page is tested in a real headless browser: Debian's Chromium, installed when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

unit: $(STAMP) browser
	$(BIN)/pytest -q

# Mutation testing of the engine and apply (docs/testing.md): every mutant, the figure written to docs/mutation.txt.
mutate: $(STAMP)
	$(BIN)/python -m tests.mutation

# A fixed sample of the mutants with an asserted kill-rate floor; part of `make test`.
mutate-sample: $(STAMP)
	$(BIN)/python -m tests.mutation --sample

# Files derived from crds/ and the chart's values.yaml (ClusterConnection CRD, chart CRD templates, chart README).
generate: $(STAMP)
	$(BIN)/python -m roomsync.k8s.artefacts .

test: lint typecheck unit mutate-sample

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

bench: $(STAMP)
	$(BIN)/python -m benchmarks

soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build
