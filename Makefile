# Two commands matter: `make demo` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
# Python 3.12 is what MWAA 3.3.1 runs; 3.11 works too. Take the first interpreter that runs.
PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python 2>/dev/null) python3.11 python3; do \
	$$p -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12))' 2>/dev/null && command -v $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
# The library (plugins/mlops) and the embedded stack are imported by package name, as on MWAA.
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)
STAMP := $(VENV)/.installed

.PHONY: help venv check sagemaker-venv test test-unit test-e2e test-py311 demo up down status bench lint fmt lock clean infra-check package deploy

help:
	@echo "make demo     run the whole pipeline on the embedded stack (seeds data, backfills, prints a summary)"
	@echo "make check    every problem of every source and model file at once (python -m mlops check)"
	@echo "make test     make check, then the test suite (unit, DAG integrity, end to end on the embedded stack)"
	@echo "make test-py311  unit and DAG tests on Python 3.11 as well"
	@echo "make up/down  start/stop the embedded stack (PostgreSQL, moto, Airflow) for interactive use"
	@echo "make status   which stack processes are running"
	@echo "make bench    benchmarks (ingest, DAG parse time, training runner overhead, training DAG, serving); writes bench/results/"
	@echo "make lint     ruff"
	@echo "make lock     re-lock requirements/lock.txt after changing requirements.txt or requirements/dev.in"
	@echo "make clean    stop the stack and delete its state (.local/)"
	@echo "make infra-check  Terraform: fmt, validate, security scan, apply into moto, access tests per identity"
	@echo "make package  build the MWAA bundle in dist/<env>/ (ENV=dev|prod, AWS_ACCOUNT_ID=..., AWS_REGION=...)"
	@echo "make deploy ENV=dev|prod [TRIGGER=training|<dag_id>,...] [TRIGGER_CONF=<json>]  upload the bundle to MWAA, update it, trigger DAGs"

$(STAMP): requirements/lock.txt
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v in ((3, 11), (3, 12)) else "need Python 3.12 (what MWAA 3.3.1 runs) or 3.11, found %d.%d; set PYTHON=/path/to/python3.12" % v)'
	@echo "creating $(VENV) with $(PYTHON) and installing requirements/lock.txt (first run takes a few minutes)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --disable-pip-version-check uv
	@$(BIN)/uv pip install -q --python $(BIN)/python -r requirements/lock.txt
	@touch $@

venv: $(STAMP)

# Every configuration mistake before a run: file, field and what is allowed; `make test` runs it first.
check: venv
	$(BIN)/python -m mlops check

test: venv check
	$(BIN)/python -m pytest

test-unit: venv
	$(BIN)/python -m pytest tests/unit tests/dags

test-e2e: venv
	$(BIN)/python -m pytest tests/e2e

# The code must also run on Python 3.11: unit and DAG tests in a second environment.
PYTHON311 ?= $(shell command -v python3.11)
.venv311/.installed: requirements/lock.txt
	@test -n "$(PYTHON311)" || { echo "python3.11 not found; set PYTHON311=/path/to/python3.11"; exit 1; }
	@test -x .venv311/bin/python || $(PYTHON311) -m venv .venv311
	@.venv311/bin/pip install -q --disable-pip-version-check uv
	@.venv311/bin/uv pip install -q --python .venv311/bin/python -r requirements/lock.txt
	@touch $@

test-py311: .venv311/.installed
	.venv311/bin/python -m pytest tests/unit tests/dags

demo: venv
	$(BIN)/python -m embedded_stack.demo

up: venv
	$(BIN)/python -m embedded_stack up

down:
	@test -x $(BIN)/python && $(BIN)/python -m embedded_stack down || true

status: venv
	$(BIN)/python -m embedded_stack status

# MLflow's scoring server, the serving benchmark's baseline, in its own venv: its pins clash with Airflow's.
BENCH_MLFLOW_VENV := .venv-bench-mlflow
BENCH_MLFLOW_STAMP := $(BENCH_MLFLOW_VENV)/.installed
$(BENCH_MLFLOW_STAMP): requirements/bench-mlflow.txt | $(STAMP)
	@echo "creating $(BENCH_MLFLOW_VENV) and installing requirements/bench-mlflow.txt (MLflow, isolated from Airflow's pins)"
	@test -x $(BENCH_MLFLOW_VENV)/bin/python || $(BIN)/uv venv -q --python $(BIN)/python $(BENCH_MLFLOW_VENV)
	@$(BIN)/uv pip install -q --python $(BENCH_MLFLOW_VENV)/bin/python -r requirements/bench-mlflow.txt
	@touch $@

bench: venv $(BENCH_MLFLOW_STAMP)
	$(BIN)/python -m bench

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: venv
	PATH=$(CURDIR)/$(BIN):$$PATH requirements/compile.sh

clean: down
	rm -rf .local

package: venv
	$(BIN)/python -m deploy.package --env $(or $(ENV),dev) --out dist

# Build the bundle, upload it to the environment's MWAA bucket, update the environment when
# plugins/requirements/startup changed, sync dags/, then trigger TRIGGER (comma-separated DAG ids;
# "training" = every training DAG). AWS credentials and region from the usual AWS variables.
deploy: venv
	@test -n "$(ENV)" || { echo "make deploy needs ENV=<environment> (deploy/environments/*.env)"; exit 2; }
	$(BIN)/python -m deploy.deploy --env $(ENV) --out dist $(if $(TRIGGER),--trigger-dag '$(TRIGGER)') $(if $(TRIGGER_CONF),--trigger-conf '$(TRIGGER_CONF)')

# checkov (the security scan of infra/) in its own venv: its pins clash with Airflow's. Made on
# first use from requirements/checkov.txt, like the main venv; `make test` installs it too.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP): requirements/checkov.txt | $(STAMP)
	@echo "creating $(CHECKOV_VENV) and installing requirements/checkov.txt (checkov, isolated from Airflow's pins)"
	@test -x $(CHECKOV_VENV)/bin/python || $(BIN)/uv venv -q --python $(BIN)/python $(CHECKOV_VENV)
	@$(BIN)/uv pip install -q --python $(CHECKOV_VENV)/bin/python -r requirements/checkov.txt
	@touch $@

test: $(CHECKOV_STAMP)

# The SageMaker Python SDK (a real client in tests: image_uris.retrieve against the project's image
# table, Predictor against a local endpoint) in its own venv: its pins clash with Airflow's too.
SAGEMAKER_VENV := .venv-sagemaker
SAGEMAKER_STAMP := $(SAGEMAKER_VENV)/.installed
$(SAGEMAKER_STAMP): requirements/sagemaker-sdk.txt | $(STAMP)
	@echo "creating $(SAGEMAKER_VENV) and installing requirements/sagemaker-sdk.txt (the SageMaker SDK, isolated from Airflow's pins)"
	@test -x $(SAGEMAKER_VENV)/bin/python || $(BIN)/uv venv -q --python $(BIN)/python $(SAGEMAKER_VENV)
	@$(BIN)/uv pip install -q --python $(SAGEMAKER_VENV)/bin/python -r requirements/sagemaker-sdk.txt
	@touch $@

sagemaker-venv: $(SAGEMAKER_STAMP)

test: $(SAGEMAKER_STAMP)
test-unit: $(SAGEMAKER_STAMP)

# Terraform (infra/): fmt -check, validate, checkov, the bootstrap and envs/dev applied into a moto
# server, access tests per identity. Needs terraform; providers come from a local mirror (infra/bin/tf).
infra-check: venv $(CHECKOV_STAMP)
	$(BIN)/python -m pytest tests/infra -v
