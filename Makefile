# Plateforme Centralisée de Modèles ML — the commands of the README.
#   make run    start the whole platform on this machine (creates .venv on first use)
#   make test   install what the tests need, then run the whole test suite
#   make lint   ruff
#   make bench  the benchmarks of bench/ (BENCH="registry runner" to pick some)
SHELL := /bin/bash
# python3.11 (pyproject pins 3.11); plain python3 only where no python3.11 exists.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Re-install only when pyproject.toml changed since the last install.
STAMP := $(VENV)/.installed

.PHONY: run test lint install test-prereqs seed clean-data webapp

run: install
	$(PY) -m scripts.launcher

test: install test-prereqs superset-install webapp
	$(PY) -m pytest $(PYTEST_ARGS)

# The web app: npm ci when needed, build when its sources changed, Vitest and ESLint.
webapp: install
	$(PY) -m scripts.webapp_build --test

lint: install
	$(VENV)/bin/ruff check .

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# RabbitMQ running with its management API (nameko's rabbit_config fixture makes a
# vhost per test through it), installed and started when we are root.
test-prereqs:
	bash scripts/test_prereqs.sh

# The demo models, into a platform that is already running (make run seeds by itself).
seed: install
	$(PY) -m scripts.seed

# Apache Superset in its own venv (.venv-superset/), from deploy/superset/requirements.txt:
# once (~2 min from PyPI), again only when that file changes. make run installs it too.
.PHONY: superset-install
superset-install: install
	$(PY) -m scripts.superset install

# Forget the embedded database and the logs (the next make run starts empty).
clean-data:
	rm -rf var/db var/log

ifneq ($(wildcard bench/__main__.py),)
.PHONY: bench
bench: install
	$(PY) -m bench $(BENCH)
endif
