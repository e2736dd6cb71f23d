# README's two commands: `make demo` (set up, run the pipeline, summarise) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export PYTHONHASHSEED := 0
# The project's MLflow store unless MLFLOW_TRACKING_URI says otherwise (ui, serve).
TRACKING_URI := $(or $(MLFLOW_TRACKING_URI),sqlite:///$(CURDIR)/mlflow.db)
UI_PORT ?= 5000
PORT ?= 5001
MODEL ?= models:/seqnetquake-cses@champion

.PHONY: demo test install lint repro summary ui serve clean-outputs benchmark server study

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

## demo: install, run the whole pipeline on the embedded default, print the results
demo: install repro summary

repro: install
	$(BIN)/dvc repro

summary: install
	@$(BIN)/seqnetquake summary
	@echo
	@echo "MLflow UI:  make ui   (then open http://127.0.0.1:5000)"

## benchmark: amplitude sweep {0, 0.5, 2, 4} and control twins as DVC experiments, collected
## into reports/benchmark.json (docs/benchmark.md; ~1.5 h on 2 cores after `make demo`)
benchmark: install
	$(BIN)/seqnetquake benchmark sweep
	$(BIN)/seqnetquake benchmark readme

## study: every experiment of the paper on datasets 01-11 and the alarm evaluation
## (study/dvc.yaml: reports/study.md, study.json; docs/study.md; ~4 min on 2 cores after demo)
study: install
	$(BIN)/dvc repro study/dvc.yaml

ui: install
	$(BIN)/mlflow ui --backend-store-uri $(TRACKING_URI) --host 127.0.0.1 --port $(UI_PORT) --workers 1

## serve: the champion CSES model as a REST endpoint (README "Serving"); make serve PORT=5002
serve: install
	MLFLOW_TRACKING_URI=$(TRACKING_URI) $(BIN)/mlflow models serve -m "$(MODEL)" \
		--env-manager local --host 127.0.0.1 --port $(PORT) --workers 1

## server: MLflow on 127.0.0.1:5001 over a project-local PostgreSQL (.server/), for many
## writers; needs Debian's postgresql (apt-get install postgresql). Ctrl-C stops both.
server: install
	$(BIN)/seqnetquake server

## lint: ruff, and the import layers of pyproject.toml's [tool.importlinter] (docs/architecture.md)
lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

## test: install, lint, run the test suite
test: install lint
	$(BIN)/python -m pytest -q
