# The two commands of the README, and the checks CI runs.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config/monitor.yaml
STAMP := $(VENV)/.installed

.PHONY: install run once test check lint types bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)            ## install, then start the daemon on the example config
	$(BIN)/news-monitor --config $(CONFIG) run

once: $(STAMP)
	$(BIN)/news-monitor --config $(CONFIG) once

test: $(STAMP)           ## install, then run the whole test suite
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
