# voicesim: `make demo` and `make test` set everything up first (see scripts/setup.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-test demo test test-fast test-load bench bench-quick lint format clean

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

# The live drill's tests with both cores saturated by another process (stress-ng, always
# stopped afterwards): they must pass on a busy machine. LOAD_RUNS=5 repeats them.
LOAD_TESTS ?= tests/test_live.py tests/test_interrupt.py
LOAD_CPUS ?= 2
LOAD_RUNS ?= 1
test-load: setup-test
	@command -v stress-ng >/dev/null || { echo "test-load: stress-ng is missing (scripts/setup.sh --test installs it)" >&2; exit 1; }
	@stress-ng --cpu $(LOAD_CPUS) --timeout 7200 --quiet & hog=$$!; \
	trap 'kill $$hog 2>/dev/null; wait $$hog 2>/dev/null' EXIT; \
	passed=0; \
	for run in $$(seq $(LOAD_RUNS)); do \
	  echo "test-load: run $$run of $(LOAD_RUNS) under stress-ng --cpu $(LOAD_CPUS)"; \
	  $(PY) -m pytest -q $(LOAD_TESTS) && passed=$$((passed + 1)); \
	done; \
	echo "test-load: $$passed of $(LOAD_RUNS) runs passed"; \
	[ $$passed -eq $(LOAD_RUNS) ]

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
