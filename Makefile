# One entry point. A reader needs two targets: `make html` and `make test`.
# Every target that needs a database gets one: a server already answering, else
# docker compose, else a throwaway MariaDB (see dbconn/server.py). One started
# for a target is stopped when the target ends; `make db` leaves it running.
# Every system package a target needs is installed by the target itself, from the
# one list in dbconn/system.py (run with the system's Python: before .venv exists).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SITE := _build/html
SPHINXOPTS ?= -W --keep-going -n
WITH_DB := $(PY) -m dbconn db run --
SYSTEM := $(PYTHON) dbconn/system.py

# make serve SERVE_PORT=8001, make notebooks JUPYTER_PORT=8889: each on 127.0.0.1.
SERVE_PORT ?= 8000
JUPYTER_PORT ?= 8888

.PHONY: venv db db-stop html serve notebooks test test-faults bench doctor clean system-html system-test system-db

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "error: the lab needs Python 3.11 or newer: run make PYTHON=python3.11 ..."; exit 1; }
	@$(SYSTEM) venv
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	@touch $@

# What a target needs from the system, checked before anything else is built.
system-html system-test system-db:
	@$(SYSTEM) $(patsubst system-%,%,$@)

db: system-db venv
	@$(PY) -m dbconn db up

db-stop: venv
	@$(PY) -m dbconn db down

# Built in _build/stage, published to $(SITE) only when green (dbconn/pipeline.py).
html: system-html venv
	$(WITH_DB) $(PY) -m dbconn.pipeline $(SPHINXOPTS)

serve: html
	@$(PY) -m dbconn serve --port $(SERVE_PORT) --directory $(SITE)

# The server is started for JupyterLab and stopped after it (unless `make db` keeps it).
notebooks: venv
	@$(WITH_DB) $(PY) -m dbconn notebooks --port $(JUPYTER_PORT)

test: system-test venv
	$(WITH_DB) $(PY) -m pytest -n 2 --dist loadscope

doctor: venv
	@$(PY) -m dbconn doctor $(ARGS)

bench: venv
	$(WITH_DB) $(PY) tests/bench.py

# Interrupts, crashes, hangs and bad input, each with what it leaves behind: slower and
# harsher than `make test` (servers killed with SIGKILL, starts interrupted).
test-faults: system-test venv
	$(PY) -m pytest -p no:cacheprovider tests/faults

# Stops everything this checkout started (recorded in .state/run, or found by its
# command line), then removes .state; refuses, removing nothing, while something
# still runs. Standard library only: works without .venv.
clean:
	@$(PYTHON) dbconn/registry.py clean
	rm -rf _build .pytest_cache
