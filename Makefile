# gridrisk — every entry point. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
export GRIDRISK_WORKDIR ?= $(CURDIR)

.DEFAULT_GOAL := help
.PHONY: help venv java jars demo test test-fast test-spark lint serve engine engine-stop engine-status airflow bench-generate bench-ingest bench-report accuracy clean

help: ## list the entry points
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# gridrisk with every extra (spark, airflow, synth, …) and the development package gridrisk-synth
# (synth/: generator and accuracy oracle), both editable, pinned by constraints.txt.
$(VENV)/.installed: setup.py synth/pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all,dev]' -e ./synth
	@touch $@

venv: $(VENV)/.installed ## create .venv: gridrisk[all,dev] and the synth package, pinned by constraints.txt

java: ## check that Java 17 or 21 is there (Spark needs it)
	@$(PY) -c "from gridrisk.spark import check_java; print('java', check_java(), 'ok')"

jars: venv java ## fetch the Delta Lake jars once (first run only: ~87 MB from Maven Central) and stage them
	@$(PY) -c "from gridrisk.spark import delta_package, get_spark, staged_jars; staged_jars(delta_package()) or get_spark().stop()"

demo: venv java ## generate a small province and run the whole daily pipeline on it (PERSONS=5000)
	$(VENV)/bin/gridrisk demo --persons $(or $(PERSONS),5000) $(if $(FRESH),--fresh,)

# Two workers, a whole test file each (module fixtures are built once): a Spark test leaves a core
# idle while it waits on the JVM, the generator or a browser. TEST_WORKERS=0 runs in one process.
# --no-loadscope-reorder: the files go out in tests/conftest.py's order, longest first; xdist's
# default (most tests first) handed the longest files out last, so one worker ran them alone.
TEST_WORKERS ?= 2
test: venv jars ## run every test tier (Spark, Delta, SQLite, PostgreSQL if GRIDRISK_TEST_PG_DSN, Airflow, slow runs)
	$(PY) -m pytest -m "slow or not slow" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=60

test-fast: venv ## the no-JVM tier only (config, rules, catalog, IDs, task store): seconds
	$(PY) -m pytest

test-spark: venv java ## the Spark and Airflow tiers without the slow end-to-end runs
	$(PY) -m pytest -m "(spark or airflow) and not slow"

lint: venv ## ruff (with the Airflow rules on dags/) and mypy
	$(VENV)/bin/ruff check gridrisk jobs cli dags synth tests benchmarks
	$(VENV)/bin/mypy

serve: venv ## the grid centres' task service on the embedded store (http://127.0.0.1:8311/, Open311 at /open311/v2)
	$(VENV)/bin/gridrisk serve

engine: venv jars ## start the shared Spark engine Airflow tasks attach to (scripts/engine.sh; docs/scaling.md)
	@bash scripts/engine.sh start >/dev/null

engine-stop: ## stop the shared Spark engine
	@bash scripts/engine.sh stop

engine-status: ## what the engine is running, waiting on and has served
	@bash scripts/engine.sh status

airflow: venv jars ## start Airflow locally (standalone, PostgreSQL metadata, pool spark, shared Spark engine; state in ./airflow_home) with the DAGs loaded
	bash scripts/airflow_local.sh

bench-generate: venv ## benchmark the generator, synth.generate (PERSONS=1000000, VEHICLES=2300 sizes the hazmat fleet)
	$(PY) benchmarks/bench_generate.py --persons $(or $(PERSONS),1000000) $(if $(VEHICLES),--vehicles $(VEHICLES),)

bench-ingest: venv ## benchmark bronze ingest of a generated province (PERSONS=1000000)
	$(PY) benchmarks/bench_ingest.py --persons $(or $(PERSONS),1000000)

bench-report: venv java ## build time and file size of the analysts' report (PERSONS=20000)
	$(PY) benchmarks/bench_report.py --persons $(or $(PERSONS),20000)

accuracy: venv ## precision/recall of the rules against the generator's truth, synth.accuracy (PERSONS=20000)
	$(PY) benchmarks/rule_accuracy.py --persons $(or $(PERSONS),20000)

clean: ## remove the demo lake, inbox, truth and Airflow home (keeps .venv)
	rm -rf lake inbox truth airflow_home spark-warehouse
