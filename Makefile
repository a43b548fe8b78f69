# freezer-api: the two commands first.
#   make run    start the service on the embedded SQLite store (noauth)
#   make test   start every backend the suite needs, run it, stop them

PYTHON ?= python3
VENV := .venv
PORT ?= 9090
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test venv unit openapi opensearch opensearch-stop elasticsearch elasticsearch-stop clean help samples bench bench-worker bench-servers

help:
	@echo "make run     serve the API on 127.0.0.1:$(PORT) (embedded SQLite, noauth)"
	@echo "make test    run the whole test suite (starts PostgreSQL, MariaDB, ...)"
	@echo "make venv    only create .venv and install"
	@echo "make unit    the in-process tests, no server started (SQLite; seconds)"
	@echo "make samples regenerate etc/freezer/*.sample and doc/configuration.rst"
	@echo "make openapi regenerate api-ref/openapi.yaml from the code"
	@echo "make bench   measure against the bare-Falcon and backend-inclusive ceilings (BENCH_SIZES=100,1000 to shrink)"
	@echo "make bench-worker  the same, every server on freezer_api.worker"
	@echo "make bench-servers  gunicorn sync workers vs freezer_api.worker, side by side"

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "python3 is required" >&2; exit 1; }
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed; installing python3-venv" >&2; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/pip install -q --upgrade pip
	@tools/build-deps.sh $(VENV)/bin/python
	$(VENV)/bin/pip install -q -e ".[test]"
	@tools/check-uwsgi.sh $(VENV)/bin/python
	@touch $@

venv: $(VENV)/.installed

run: venv
	@tools/run-server.sh $(PORT)

test: venv
	@$(VENV)/bin/python -m tools.testenv test

# The inner loop: unit, HTTP (Falcon's test client) and storage-contract
# tests in-process, on SQLite and whatever backend URLs the environment
# names; no server is started. `make test` is the whole suite.
unit: venv
	$(VENV)/bin/python -m pytest -q -n 2 tests/unit tests/api tests/storage

samples: venv
	$(VENV)/bin/python tools/samples.py

openapi: venv
	$(VENV)/bin/python -m freezer_api.api.openapi -o api-ref/openapi.yaml

# Load test on loopback: this service on SQLite, PostgreSQL and OpenSearch,
# the bare-Falcon ceiling, the backend-inclusive ceilings
# (benchmarks/backend_ceiling.py) and upstream, side by side
# (benchmarks/run.py);
# writes benchmarks/results/. 10 to 15 minutes; BENCH_SIZES=100,1000 and
# BENCH_BACKENDS=sqlite BENCH_UPSTREAM=0 make it shorter.
bench: venv
	@$(VENV)/bin/python -c "import matplotlib" 2>/dev/null || \
	  $(VENV)/bin/pip install -q -e ".[bench]"
	$(VENV)/bin/python -m benchmarks.run

# The same table with every server on freezer_api.worker (what the
# freezer-api command runs): benchmarks/results/latest-worker.md.
bench-worker: venv
	@$(VENV)/bin/python -c "import matplotlib" 2>/dev/null || \
	  $(VENV)/bin/pip install -q -e ".[bench]"
	BENCH_SERVER=worker $(VENV)/bin/python -m benchmarks.run

# The server model side by side: this service and the ceiling on gunicorn's
# sync workers and on freezer_api.worker (benchmarks/server_models.py).
bench-servers: venv
	$(VENV)/bin/python -m benchmarks.server_models

opensearch: venv
	@$(VENV)/bin/python -m tools.testenv start opensearch

opensearch-stop: venv
	@$(VENV)/bin/python -m tools.testenv stop opensearch

elasticsearch: venv
	@$(VENV)/bin/python -m tools.testenv start elasticsearch

elasticsearch-stop: venv
	@$(VENV)/bin/python -m tools.testenv stop elasticsearch

clean:
	rm -rf $(VENV) .data build *.egg-info
