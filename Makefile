# modelport: `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
# sklearn2pmml refuses scikit-learn 1.9.1: the PMML tests run its exporter in a venv of its own.
SK2P := .venv-sklearn2pmml
SK2P_STAMP := $(SK2P)/.installed

.PHONY: install demo test lint clean browser container-tools

install: $(STAMP) $(SK2P_STAMP)

# The console's browser tests (tests/ui): Debian's chromium, driven by Playwright (never `playwright install`:
# its download site is unreachable). A no-op once present.
browser:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q chromium; \
	  else echo "note: the console's browser tests need: apt-get install -y chromium"; fi; \
	fi

# The container tests' engine, base-image maker and jlink (PMML images): Debian packages, a no-op once present.
container-tools:
	@if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v jlink >/dev/null || ! command -v strip >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q docker.io debootstrap openjdk-17-jdk-headless binutils; \
	  else echo "note: the container tests need: apt-get install -y docker.io debootstrap openjdk-17-jdk-headless binutils"; fi; \
	fi

$(STAMP): pyproject.toml setup.py src/modelport/runtimes/_trees.c Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install --quiet --disable-pip-version-check uv
	@# --compile-bytecode: every command starts from .pyc files, even where PYTHONDONTWRITEBYTECODE is set
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[all,dev]'
	@$(BIN)/python -m compileall -q src
	@# torch is an optional extra; pip (not uv) takes the local CPU wheel (+cpu sorts above PyPI's CUDA build)
	$(BIN)/pip install --quiet --disable-pip-version-check $(if $(wildcard /opt/wheels),--find-links /opt/wheels) 'torch==2.13.0'
	@$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.__version__.endswith('+cpu') else 'torch is not the CPU build: ' + torch.__version__)"
	@touch $(STAMP)

$(SK2P_STAMP): Makefile $(STAMP)
	@test -x $(SK2P)/bin/python || $(PYTHON) -m venv --without-pip $(SK2P)
	$(UV) pip install --quiet --python $(SK2P)/bin/python 'scikit-learn==1.9.0' 'sklearn2pmml==0.133.1' pandas
	@touch $(SK2P_STAMP)

demo: install
	$(BIN)/python examples/demo.py

test: install container-tools browser
	$(BIN)/ruff check src tests
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) $(SK2P) .pytest_cache
