# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

## Start the bot on its embedded defaults (SQLite in ./data, HTTP on 127.0.0.1:8080, mail to ./data/outbox).
run: $(VENV)/.installed
	$(BIN)/supportbot serve

## Lint, type-check, check the import contracts, then run every test.
test: $(VENV)/.installed-dev lint
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## Benchmarks: figures printed as tables, never asserted.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/receive.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
