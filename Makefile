# csresearch: `make help` lists every target.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := data/demo
AS_OF  ?= 2025-12-31
ACCOUNTS ?= 10000
MODEL  ?= dynamic
# JupyterLab refuses to run as root unless told to (containers run as root)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.DEFAULT_GOAL := help
.PHONY: help setup data reports test lint bench lab docs clean

help: ## list every target with one line
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	$(BIN)/python -m ipykernel install --sys-prefix --name csresearch --display-name "Python (csresearch)" >/dev/null
	touch $(STAMP)

setup: $(STAMP) ## create .venv, install the kit (editable, with test extras) and register its Jupyter kernel

$(DEMO)/truth.json: $(wildcard csresearch/demo/*.py csresearch/demo/dynamic/*.py) | $(STAMP)
	$(BIN)/csresearch demo-data --accounts $(ACCOUNTS) --seed 42 --model $(MODEL) --out $(DEMO)

data: $(DEMO)/truth.json ## write the demo data set (10,000 accounts, 2023-01-01..2025-12-31) when absent or stale

reports: data ## render every report from the demo data into reports/
	$(BIN)/csresearch report all --config data/reports.yaml

test: $(STAMP) ## run the whole test suite (unit, notebooks with nbval, end-to-end reports)
	@if command -v java >/dev/null 2>&1; then \
	  $(BIN)/python -c "import pyspark" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[test,spark]'; \
	else echo "note: no java found; the Spark tests will be skipped (install openjdk-17-jre-headless)"; fi
	@$(BIN)/python -c "import psycopg" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || \
	  echo "note: no PostgreSQL server found; the PostgreSQL tests will be skipped (apt-get install postgresql)"
	$(BIN)/python -m pytest -q
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

lint: $(STAMP) ## ruff on the package, the tests and the benchmarks
	$(BIN)/ruff check csresearch tests bench

bench: data ## run the benchmarks and write bench/results.md
	$(BIN)/python -m bench --out bench/results.md

lab: $(STAMP) ## open JupyterLab at the repository root (notebooks/, report templates in csresearch/templates/)
	$(BIN)/jupyter lab $(ALLOW_ROOT)

docs: $(STAMP) ## build the documentation site into site/ (mkdocs, strict: a broken link or reference fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean: ## remove the venv, rendered reports, demo data and caches
	rm -rf $(VENV) $(DEMO) reports/*/ reports/index.html site .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
