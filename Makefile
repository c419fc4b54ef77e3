# Every chore of the project has a target here.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
BENCH_GENERATIONS ?= 100000
SOAK_GENERATIONS ?= 500
SOAK_KILLS ?= 2

.PHONY: run stack test test-fast lint format typecheck bench soak screenshots browser clean

# The virtualenv is (re)built when pyproject.toml changes.
$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

## run: the app on embedded defaults (SQLite, ORM broker, simulator without an API key)
run: $(INSTALLED)
	$(PY) manage.py runplayground

## stack: the team stack natively (gunicorn, STACK_WORKERS clusters, simulator without a key)
## against DATABASE_URL / REDIS_URL, the local PostgreSQL and Redis by default
stack: $(INSTALLED)
	$(PY) -m playground.stack

## test: the whole suite (unit, pipeline, end-to-end with real processes, browser)
test: $(INSTALLED)
	$(PY) -m pytest

## test-fast: everything but the tests that start processes (browser, end-to-end, stack,
## manage.py or the simulator's command line)
test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not browser and not e2e and not stack and not process"

## bench: the benchmarks on SQLite, then on PostgreSQL at BENCH_POSTGRES_URL when it answers
## (gallery pages over BENCH_GENERATIONS generations, image ingest and serving, the pipeline
## beside the official client, polling and webhooks): one table, saved in var/bench/bench.json
bench: $(INSTALLED)
	$(PY) -m tests.bench --generations $(BENCH_GENERATIONS)

## soak: the fault soak: SOAK_GENERATIONS generations through a faulty simulator while the
## qclusters are killed SOAK_KILLS times, on SQLite, then on PostgreSQL and Redis if they answer
## (figures printed and written to var/bench/soak-<database>.json)
soak: $(INSTALLED)
	$(PY) -m tests.bench.soak --generations $(SOAK_GENERATIONS) --kills $(SOAK_KILLS)

## screenshots: every kind of page on a desktop (1440x900) and a phone (390x844), light and
## dark, from the app with its simulator, into test-artifacts/screenshots/ (needs Chromium)
screenshots: $(INSTALLED)
	$(PY) -m tests.screenshots

## lint: ruff's checks, ruff's formatting (checked, not applied) and the type check
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## format: format the code, then apply ruff's safe fixes
format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## typecheck: mypy with the Django plugin over generations/ and playground/ (pyproject.toml)
typecheck: $(INSTALLED)
	$(VENV)/bin/mypy

## browser: install Debian's Chromium for the browser tests (needs root)
browser:
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts
