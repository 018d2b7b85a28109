# voicesim: `make demo` and `make test` set everything up first (see scripts/setup.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-test demo test test-fast bench bench-quick lint format clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/voicesim simulate --persona damaged-blender --trainee model-agent

setup-test:
	@bash scripts/setup.sh --test

test: setup-test
	$(PY) -m pytest -q

test-fast: setup-test
	$(PY) -m pytest -q -m "not slow"

bench: setup-test
	$(PY) benchmarks/run_all.py

bench-quick: setup-test
	$(PY) benchmarks/run_all.py --quick

lint: setup
	$(VENV)/bin/ruff check voicesim tests benchmarks
	$(VENV)/bin/ruff format --check voicesim tests benchmarks

format: setup
	$(VENV)/bin/ruff format voicesim tests benchmarks
	$(VENV)/bin/ruff check --fix voicesim tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
