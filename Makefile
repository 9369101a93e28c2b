# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# System packages: root installs them directly, anyone else through sudo.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

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

## Lint, type-check, check the import contracts, then run every test, one worker per CPU
## (pytest-xdist): each worker has its own PostgreSQL schema, SQLite files and ports.
# The IMAP tests need a real Dovecot (Debian's dovecot-imapd); the test fixture starts its own on a
# free loopback port, so a system Dovecot the package may start on port 143 does not matter.
# The browser tests drive Debian's Chromium (package chromium) through Playwright; no browser
# is ever downloaded.
test: $(VENV)/.installed-dev lint
	@[ -x /usr/sbin/dovecot ] || command -v dovecot >/dev/null 2>&1 || \
		($(SUDO) apt-get update -qq && \
		 $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd)
	@[ -x /usr/bin/chromium ] || \
		($(SUDO) apt-get update -qq && \
		 $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/pytest -n auto --durations=15

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## Benchmarks: figures printed as tables, never asserted.
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/receive.py
	$(BIN)/python bench/email_ingest.py
	$(BIN)/python bench/slack_ack.py
	$(BIN)/python bench/sla_sweep.py
	$(BIN)/python bench/automations.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/web.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
