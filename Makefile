# wedsync-operator — run `make help` for the targets.
SHELL := /bin/bash
PY    ?= python3
VENV  ?= .venv
BIN   := $(VENV)/bin
CLUSTER_DIR ?= $(CURDIR)/.cluster
PYTEST_FLAGS ?= -p no:cacheprovider

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python ## Create .venv and install the operator with its dev tools
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

lint: ## ruff (lint + format check), mypy --strict, import-linter layer contracts
	$(BIN)/ruff check conftest.py operator tests e2e hack
	$(BIN)/ruff format --check conftest.py operator tests e2e hack
	$(BIN)/mypy
	cd operator && ../$(BIN)/lint-imports ../.importlinter

binaries: ## Build (or reuse) kube-apiserver, etcd, KWOK, helm... from Go modules
	e2e/cluster/build.sh

test-unit: ## Unit tests: engine, model, CLI, CRD files (no cluster)
	$(BIN)/pytest $(PYTEST_FLAGS) tests/unit

e2e: ## e2e tests against a real local control plane (built on first use)
	$(BIN)/pytest $(PYTEST_FLAGS) e2e

test: lint ## Everything CI runs: lint, unit tests, e2e on the local control plane
	$(BIN)/pytest $(PYTEST_FLAGS) tests e2e

cluster-up: ## Start the local control plane in .cluster/ (prints the KUBECONFIG export)
	e2e/cluster/up.sh $(CLUSTER_DIR)

cluster-down: ## Stop the local control plane and delete .cluster/
	e2e/cluster/down.sh $(CLUSTER_DIR)

demo: install cluster-up ## Local cluster + CRDs + example platform + the plan for the example Saturday
	e2e/demo.sh $(CLUSTER_DIR)

.PHONY: help install lint binaries test-unit e2e test cluster-up cluster-down demo
