# jifen: the commands a newcomer needs. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Third-party web assets: installed from the npm registry, copied here, never committed.
VENDOR := src/jifen/web/static/vendor
SWAGGER_UI := $(VENDOR)/swagger-ui
SWAGGER_FILES := swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE
# htmx and Apache ECharts for the console and the member portal.
HTMX := $(VENDOR)/htmx
ECHARTS := $(VENDOR)/echarts
ASSETS := $(SWAGGER_UI)/.built
export JIFEN_DATABASE_URL ?= sqlite+aiosqlite:///./jifen.db

.PHONY: help install assets browser run test lint typecheck pytest bench clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml | $(ASSETS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install jifen with its development tools (builds assets)

assets: $(ASSETS) ## Install web assets from npm (package-lock.json) into src/jifen/web/static/vendor

# Scripts are not run: the assets are plain files (and this skips a telemetry post-install).
$(ASSETS): package.json $(wildcard package-lock.json)
	@command -v npm >/dev/null 2>&1 || { echo "make assets: npm not found; install Node.js and npm (apt-get install -y nodejs npm)" >&2; exit 1; }
	@if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --ignore-scripts; \
	else npm install --no-audit --no-fund --ignore-scripts; fi
	rm -rf $(SWAGGER_UI)
	mkdir -p $(SWAGGER_UI)
	cp $(addprefix node_modules/swagger-ui-dist/,$(SWAGGER_FILES)) $(SWAGGER_UI)/
	rm -rf $(HTMX) $(ECHARTS)
	mkdir -p $(HTMX) $(ECHARTS)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE $(HTMX)/
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE $(ECHARTS)/
	touch $@

run: $(STAMP) ## Migrate, load the demo program and serve on http://127.0.0.1:8000 (SQLite)
	$(BIN)/jifen migrate
	$(BIN)/jifen demo
	$(BIN)/jifen serve --host 127.0.0.1 --port 8000

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP) ## mypy (strict) on src/
	$(BIN)/mypy

# The browser tests drive Debian's chromium (Playwright never downloads a browser).
browser: ## Install Debian's chromium and CJK fonts for the browser tests, when missing
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium fonts-noto-cjk; }

pytest: $(STAMP) $(ASSETS) browser ## The test suite (SQLite and PostgreSQL, browser tests in chromium)
	$(BIN)/pytest

test: lint typecheck pytest ## Everything CI runs: lint, types, tests

bench: $(STAMP) ## Benchmarks (JSON lines on stdout)
	@for b in bench/*.py; do $(BIN)/python $$b; done

clean: ## Remove the virtualenv, local databases, node_modules and built assets
	rm -rf $(VENV) jifen.db jifen.db-wal jifen.db-shm .pytest_cache .mypy_cache .ruff_cache
	rm -rf node_modules $(VENDOR)
