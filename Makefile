# c360 — the two commands are `make demo` and `make test`; see README.md.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
CUSTOMERS ?= 5000
SEED ?= 42

.PHONY: demo demo-cdnow test ui install prepare simulate summary lint bench bench-ingest docs report clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: orchestration/instance/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

prepare: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/c360 prepare

## Set everything up, simulate the default sample data, materialise every asset, print a summary.
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/c360 demo --customers $(CUSTOMERS) --seed $(SEED)

## Run the whole test suite (installs what it needs first).
test: prepare
	$(BIN)/pytest -q

## The Dagster UI on http://127.0.0.1:3000
ui: prepare
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## The same pipeline on the real CDNOW transactions (23,570 customers, 1997-98) in data/cdnow/
demo-cdnow: install $(DAGSTER_HOME)/dagster.yaml
	C360_DATA_DIR=$(CURDIR)/data/cdnow $(BIN)/c360 load-cdnow
	C360_DATA_DIR=$(CURDIR)/data/cdnow C360_BUSINESS_START=1997-01-01 \
		C360_EXPECTED_SOURCES=shop_orders,products $(BIN)/c360 demo

## dbt docs of every model (catalog read from the published copy: no lock on the warehouse),
## served on http://127.0.0.1:$(DOCS_PORT); also writes a one-file dbt_project/target/docs/static_index.html
DOCS_PORT ?= 8080
PUBLISHED = $(shell $(BIN)/python -c "from orchestration.settings import Paths; print(Paths.from_env().published_path)")
docs: prepare
	@test -f "$(PUBLISHED)" || { echo "no published warehouse at $(PUBLISHED): run make demo first"; exit 1; }
	cd dbt_project && C360_PUBLISHED_PATH=$(PUBLISHED) ../$(BIN)/dbt docs generate --target docs --profiles-dir . \
		--target-path target/docs --static
	cd dbt_project && ../$(BIN)/dbt docs serve --target docs --profiles-dir . --target-path target/docs \
		--host 127.0.0.1 --port $(DOCS_PORT) --no-browser

## The one-page HTML report (data/published/report.html) from the published warehouse
report: install
	$(BIN)/c360 report

simulate: install
	$(BIN)/c360 simulate --customers $(CUSTOMERS) --seed $(SEED)

summary: install
	$(BIN)/c360 summary

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

## Benchmarks (each prints its figures and the ratio to its baseline; see README "Benchmarks")
bench-ingest: install
	$(BIN)/python benchmarks/ingestion.py --customers 1000000

bench-clv: install
	$(BIN)/python benchmarks/clv_fit.py --customers 1000000

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
