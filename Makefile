# The two commands of the README: `make demo` and `make test`. Both create .venv on first use and only
# reinstall when pyproject.toml changes (the stamp file below), so second runs start at once.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo

.PHONY: demo test lint typecheck pytest setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "characterlab needs $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/characterlab demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/pytest -m "not gpu"

clean:
	rm -rf $(VENV) out .mypy_cache .pytest_cache .ruff_cache
