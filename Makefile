# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install Setlist, resolve and compile examples/quickstart (offline)
#   make test   create .venv, install test and bench extras and services, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench docs clean services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

DEMO_OUT := build/demo-gitops

# No network: resolve reads the ghcr images from the bundled OCI image layout
# (examples/quickstart/oci) for dev; staging and prod run the versions setlist.lock
# records as promoted to them (resolve keeps those).
demo: $(STAMP)
	$(BIN)/setlist check examples/quickstart
	$(BIN)/setlist resolve examples/quickstart
	rm -rf $(DEMO_OUT) && mkdir -p build && cp -r examples/quickstart/gitops $(DEMO_OUT)
	$(BIN)/setlist compile examples/quickstart -o $(DEMO_OUT)
	@echo "--- $(DEMO_OUT)/argocd/applicationsets/shop-prod.yaml"
	@cat $(DEMO_OUT)/argocd/applicationsets/shop-prod.yaml
	@if command -v kubectl >/dev/null 2>&1; then \
	  for env in dev prod; do \
	    echo "--- kubectl kustomize $(DEMO_OUT)/apps/shop/overlays/$$env (images)"; \
	    kubectl kustomize $(DEMO_OUT)/apps/shop/overlays/$$env | grep 'image:'; \
	  done; \
	fi

services:
	bash scripts/install-services.sh

test: $(STAMP) services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/check_speed.py

docs: $(STAMP)
	$(BIN)/python -m setlist.codes > docs/diagnostics.md
	$(BIN)/python scripts/cli_reference.py > docs/cli-reference.md

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
