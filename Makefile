# One entry point. A reader needs two targets: `make html` and `make test`.
# Every target that needs a database gets one: a server already answering, else
# docker compose, else a throwaway MariaDB (see dbconn/server.py). One started
# for a target is stopped when the target ends; `make db` leaves it running.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SITE := _build/html
SPHINXOPTS ?= -W --keep-going -n
WITH_DB := $(PY) -m dbconn db run --
# mysqlclient has no Linux wheels: pip compiles it against the client library's headers.
MYSQLCLIENT_BUILD := build-essential python3-dev pkg-config libmariadb-dev

# make serve SERVE_PORT=8001, make notebooks JUPYTER_PORT=8889: each on 127.0.0.1.
SERVE_PORT ?= 8000
JUPYTER_PORT ?= 8888

.PHONY: venv db db-stop html serve notebooks test test-faults bench doctor clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "error: the lab needs Python 3.11 or newer: run make PYTHON=python3.11 ..."; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo "Installing python3-venv with apt-get ..." && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; } || \
	  { echo "error: $(PYTHON) cannot create a virtual environment: install python3-venv (apt-get install python3-venv)"; exit 1; }
	@pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo "Installing mysqlclient's build needs with apt-get ..." && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MYSQLCLIENT_BUILD) >/dev/null; } || \
	  { echo "error: pip cannot build mysqlclient here: install $(MYSQLCLIENT_BUILD) (apt) or the MySQL client headers"; exit 1; }
	@command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && echo "Installing redis-server (the Celery notebook's broker) with apt-get ..." && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } || \
	  { echo "error: the Celery notebook needs redis-server: install it (apt-get install redis-server)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	@touch $@

db: venv
	@$(PY) -m dbconn db up

db-stop: venv
	@$(PY) -m dbconn db down

html: venv
	$(WITH_DB) $(PY) -m sphinx -b html $(SPHINXOPTS) . $(SITE)

serve: html
	@$(PY) -m dbconn serve --port $(SERVE_PORT) --directory $(SITE)

# The server is started for JupyterLab and stopped after it (unless `make db` keeps it).
notebooks: venv
	@$(WITH_DB) $(PY) -m dbconn notebooks --port $(JUPYTER_PORT)

test: venv
	$(WITH_DB) $(PY) -m pytest -n 2 --dist loadscope

doctor: venv
	@$(PY) -m dbconn doctor $(ARGS)

bench: venv
	$(WITH_DB) $(PY) tests/bench.py

# Interrupts, crashes, hangs and bad input, each with what it leaves behind: slower and
# harsher than `make test` (servers killed with SIGKILL, starts interrupted).
test-faults: venv
	$(PY) -m pytest -p no:cacheprovider tests/faults

# Stops everything this checkout started (recorded in .state/run, or found by its
# command line), then removes .state; refuses, removing nothing, while something
# still runs. Standard library only: works without .venv.
clean:
	@$(PYTHON) dbconn/registry.py clean
	rm -rf _build .pytest_cache
