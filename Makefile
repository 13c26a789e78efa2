# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install Setlist, run it on examples/quickstart
#   make test   create .venv, install test extras and services, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench docs clean services

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

DEMO_OUT := build/demo-gitops

demo: $(STAMP)
	$(BIN)/setlist check examples/quickstart
	rm -rf $(DEMO_OUT) && mkdir -p build && cp -r examples/quickstart/gitops $(DEMO_OUT)
	$(BIN)/setlist compile examples/quickstart -o $(DEMO_OUT)
	@echo "--- $(DEMO_OUT)/argocd/applicationsets/shop-prod.yaml"
	@cat $(DEMO_OUT)/argocd/applicationsets/shop-prod.yaml
	@if command -v kubectl >/dev/null 2>&1; then \
	  echo "--- kubectl kustomize $(DEMO_OUT)/apps/shop/overlays/prod (images)"; \
	  kubectl kustomize $(DEMO_OUT)/apps/shop/overlays/prod | grep 'image:'; \
	fi

services:
	bash scripts/install-services.sh

test: $(STAMP) services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/check_speed.py

docs: $(STAMP)
	$(BIN)/python -m setlist.codes > docs/diagnostics.md

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
