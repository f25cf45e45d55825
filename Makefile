# Customer Personalization Workbench — `make` lists the targets.
# Everything runs inside .venv, created from python3 and installed from the lock files.

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
DATA ?= data/raw
AS_OF ?= 2026-06-30
CUSTOMERS ?= 20000
SEED ?= 7
PYTEST_ARGS ?=
QUICK ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install install-dev demo demo-data run test test-fast lint typecheck check hooks format lab ui bench lock clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# pip's notice about the lock's hash-less editable lines is noise; everything else shows.
PIP_QUIET := 2> >(grep -v "is ignored: it is neither" >&2)

$(BIN)/python:
	@echo "Creating the virtual environment $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)

# Re-install whenever a lock file or pyproject.toml changes.
$(VENV)/.installed: $(LOCK) pyproject.toml | $(BIN)/python
	@echo "Installing the pinned dependencies into $(VENV) (the first time takes about 3 minutes) ..."
	@$(BIN)/python -m pip install --quiet --requirement $(LOCK) $(PIP_QUIET)
	@$(BIN)/python -m pip install --quiet --no-deps --editable . $(PIP_QUIET)
	@touch $@
	@echo "Installed."

$(VENV)/.installed-dev: $(DEV_LOCK) pyproject.toml $(VENV)/.installed | $(BIN)/python
	@echo "Installing the test and lint tools into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --requirement $(DEV_LOCK) $(PIP_QUIET)
	@$(BIN)/python -m pip install --quiet --no-deps --editable . $(PIP_QUIET)
	@touch $@

install: $(VENV)/.installed ## create .venv and install the pinned runtime (once; again when the lock changes)

install-dev: $(VENV)/.installed-dev ## install runtime + test/lint tools + the Spark extra

demo-data: install ## write the seeded demo data to data/raw (only if it is empty or demo data)
	$(BIN)/workbench demo-data --out $(DATA) --customers $(CUSTOMERS) --seed $(SEED) --if-missing

demo: demo-data ## fresh machine to full report: venv, install, demo data, whole pipeline
	$(BIN)/workbench run --data $(DATA) --as-of $(AS_OF) --keep-last 10

run: install ## run the pipeline on DATA (default data/raw) as of AS_OF
	$(BIN)/workbench run --data $(DATA) --as-of $(AS_OF)

test: install-dev ## the whole test suite (unit, notebooks, browser, spark)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install-dev ## unit tests only (no notebooks, browser, spark or slow tests)
	$(BIN)/python -m pytest -m "not slow and not notebooks and not browser and not spark" $(PYTEST_ARGS)

lint: install-dev ## ruff (code and notebooks), formatting, and notebooks without outputs
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks notebooks
	$(BIN)/python -m workbench.notebook_hygiene notebooks

typecheck: install-dev ## mypy on src/ (settings in pyproject.toml)
	$(BIN)/mypy

check: lint typecheck ## lint and typecheck: what .ci/run does before the tests

hooks: install-dev ## run lint and typecheck before every git commit (pre-commit, local hooks)
	$(BIN)/pre-commit install

format: install-dev ## apply ruff fixes and formatting, strip notebook outputs
	$(BIN)/ruff check --fix src tests benchmarks notebooks
	$(BIN)/ruff format src tests benchmarks notebooks
	$(BIN)/python -m workbench.notebook_hygiene --fix notebooks

lab: install ## JupyterLab on notebooks/ with the project's kernel
	@$(BIN)/python -m ipykernel install --sys-prefix --name workbench --display-name "Workbench (.venv)" >/dev/null
	$(BIN)/jupyter lab --notebook-dir=notebooks

# One worker and no job runner: MLflow 3's default (4 workers and a job runner, each
# importing the whole server) keeps a 2-core machine busy for a minute or more before the
# first page answers, although "Uvicorn running" shows at once.
ui: install ## MLflow UI on mlruns/ (runs, artefacts, model registry) at http://127.0.0.1:5000
	@echo "MLflow UI on http://127.0.0.1:5000 (Ctrl-C stops it)"
	@MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
		--host 127.0.0.1 --port 5000 --workers 1

bench: install-dev ## benchmarks at 10k/100k/1M customers (QUICK=1 for small sizes)
	$(BIN)/python -m benchmarks.run $(if $(QUICK),--quick,)

lock: ## re-resolve dependencies into the lock files (needs the package registry)
	$(PYTHON) -m venv /tmp/workbench-lock && /tmp/workbench-lock/bin/pip install --quiet uv
	/tmp/workbench-lock/bin/uv pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 --no-header --output-file $(DEV_LOCK)
	/tmp/workbench-lock/bin/uv pip compile pyproject.toml --constraint $(DEV_LOCK) --python-version 3.11 --no-header --output-file $(LOCK)

clean: ## remove generated data, reports and MLflow runs (keeps data/raw)
	rm -rf data/interim/* data/processed/* reports/* mlruns/*
	@touch data/interim/.gitkeep data/processed/.gitkeep reports/.gitkeep mlruns/.gitkeep
