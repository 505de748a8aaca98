# The two set-up commands: `make demo` and `make test`. Both create or refresh .venv (with the
# test, clv and clickhouse extras).
# `make test-long` is `make test` with the deep budgets (see README, "Tests").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-long lint typecheck venv bench clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,clv,clickhouse]'
	touch $(STAMP)

venv: $(STAMP)

# The funnel benchmark against embedded ClickHouse (chdb) and DuckDB SQL; see docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,clv,clickhouse,bench]'
	$(BIN)/python bench/funnel_bench.py --events $(or $(EVENTS),10M)

demo: $(STAMP)
	$(BIN)/funnelscope demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The web tests drive Debian's Chromium through playwright (never `playwright install`; see
# DEVELOPERS.md). A clean machine gets it here; as a non-root user through sudo.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# pytest on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test: lint typecheck chromium
	$(PYTEST)

# The deep run: 10x the hypothesis cases and the tests marked `long` (tests/conftest.py).
test-long: lint typecheck chromium
	FUNNELSCOPE_TESTS=long $(PYTEST)

clean:
	rm -rf $(VENV) funnelscope.duckdb funnels demo-data reports .pytest_cache .mypy_cache .ruff_cache
