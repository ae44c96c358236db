# jifen: the commands a newcomer needs. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export JIFEN_DATABASE_URL ?= sqlite+aiosqlite:///./jifen.db

.PHONY: help install run test lint typecheck pytest bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install jifen with its development tools

run: $(STAMP) ## Migrate, load the demo program and serve on http://127.0.0.1:8000 (SQLite)
	$(BIN)/jifen migrate
	$(BIN)/jifen demo
	$(BIN)/jifen serve --host 127.0.0.1 --port 8000

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP) ## mypy (strict) on src/
	$(BIN)/mypy

pytest: $(STAMP) ## The test suite (SQLite and PostgreSQL)
	$(BIN)/pytest

test: lint typecheck pytest ## Everything CI runs: lint, types, tests

bench: $(STAMP) ## Benchmarks (JSON lines on stdout)
	@for b in bench/*.py; do $(BIN)/python $$b; done

clean: ## Remove the virtualenv and local databases
	rm -rf $(VENV) jifen.db jifen.db-wal jifen.db-shm .pytest_cache .mypy_cache .ruff_cache
