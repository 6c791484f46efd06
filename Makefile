# NeuronLab: `make demo` runs the main job on LocalCloud, `make test` runs every suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM_CLI_VERSION := 1.170.0
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# Headless Chromium and its driver for the browser test (Debian's packages; needs root, as CI has)
BROWSER := /usr/bin/chromedriver
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install demo test test-unit test-workflow test-infrastructure test-e2e lint check bench docs down clean

install: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(BROWSER)

$(VENV)/.installed: pyproject.toml functions/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[local,dev]'
	touch $@

# The SAM CLI pins its own aws-sam-translator and boto3: it gets a virtual environment of its own.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

# The IaC security scanner pins dependencies of its own too.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

$(BROWSER):
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

demo: $(VENV)/.installed
	$(BIN)/neuronlab demo

down:
	$(BIN)/neuronlab local down

test: install
	$(BIN)/pytest tests

test-unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit

test-workflow: $(VENV)/.installed
	$(BIN)/pytest tests/workflow

test-infrastructure: install
	$(BIN)/pytest tests/infrastructure

test-e2e: $(VENV)/.installed $(BROWSER)
	$(BIN)/pytest tests/e2e

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy functions/orchestrator core/neuronlab_core tools/neuronlab_tools cli/neuronlab local/localcloud container/neuronbench \
		container/neuronlab_activity

check: lint test

bench: $(VENV)/.installed
	$(BIN)/python bench/demo.py
	$(BIN)/python bench/start_times.py
	$(BIN)/python bench/harness.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/history_access.py
	$(BIN)/python bench/plots.py

# the generated files: tables in docs/cost.md, the API's OpenAPI document, the stack role's calls doctor simulates
# (tests fail when one is stale)
docs: $(VENV)/.installed
	$(BIN)/python -m neuronlab_tools.cost --write docs/cost.md
	$(BIN)/python -m localcloud.stack_role cli/neuronlab/stack_role_calls.json
	$(BIN)/python -c 'import json; from orchestrator.handlers.api import openapi_document as d; \
	print(json.dumps(d(), indent=2, sort_keys=True))' > docs/openapi.json

clean:
	-$(BIN)/neuronlab local down
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .neuronlab .aws-sam bench-results
