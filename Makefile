# The README's two commands: `make demo` and `make test` (both set up .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 1
NO_UI ?=
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dataguard demo --scale $(SCALE) $(if $(NO_UI),--no-ui,)

test: $(STAMP)
	$(BIN)/ruff check dataguard_pipelines tests benchmarks
	$(BIN)/dg check defs
	$(BIN)/pytest $(PYTEST_ARGS)

# the edit loop: everything not marked slow (tests over ~10 s), under 3 minutes on 2 cores
test-fast: $(STAMP)
	$(BIN)/ruff check dataguard_pipelines tests benchmarks
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check dataguard_pipelines tests benchmarks
	$(BIN)/ruff format --check dataguard_pipelines tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_full_backup.py --scale $(SCALE)

clean:
	rm -rf $(VENV) .dataguard .pytest_cache
