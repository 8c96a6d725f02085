# The two commands of the README: `make demo` and `make test`. Both work on a
# fresh machine that has only Python >= 3.11 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := demo_out

.PHONY: demo test test-fast lint install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/baoxue demo --out $(DEMO)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the whole suite, slow tests included, on every core (pytest-xdist; one module per worker
# keeps module fixtures such as the demo run shared)
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n auto --dist loadscope

# for development: everything but the tests marked slow (notebooks, demo, Dask, replays)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadscope -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/simulate.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
