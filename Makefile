# `make run` and `make test` each set up .venv on a fresh machine (Python >= 3.11, pip).
# `make run` prints the GPT-3 175B estimate, then serves the dashboard on http://localhost:8501 (Ctrl-C stops it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/estimator train
	$(BIN)/estimator dashboard

lint: $(STAMP)
	$(BIN)/ruff check estimator tests dashboard scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
