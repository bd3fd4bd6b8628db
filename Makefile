# The targets a newcomer needs. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

# The test suite runs against real PostgreSQL and Redis (override to point elsewhere). Where
# nothing answers at these addresses, tests/services.py starts a throwaway server of each.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/phr
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
export TEST_DATABASE_URL TEST_REDIS_URL
# `make test TESTS="tests/test_health.py"` runs a part of the suite.
TESTS ?=
WITH_SERVICES := $(PY) -m tests.services --

# The port `make run` serves on. The demo's institutions are reached at SITE_URL, so it
# follows the port unless set.
PHR_PORT ?= 8000
export PHR_PORT

.PHONY: help install setup run demo worker test screenshots smoke lint security format bench chaos clean

help:
	@echo "make run    - set up (venv, dependencies, migrations, demo data) and serve on http://127.0.0.1:$(PHR_PORT)"
	@echo "make test   - set up and run the whole test suite (PostgreSQL + Redis, started if absent)"
	@echo "make screenshots - run the browser tests and retake the images in docs/screenshots/"
	@echo "make smoke  - make run and make test as a newcomer runs them, in fresh clones"
	@echo "make lint   - ruff check, format check and the import layers (import-linter)"
	@echo "make security - bandit, semgrep (local rules) and detect-secrets, all offline"
	@echo "make worker - run one Celery worker in the foreground"
	@echo "make demo   - create or reset the demo data"
	@echo "make bench  - run the benchmarks"
	@echo "make chaos  - fault-injection scenarios against real processes"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(INSTALLED)

# The independent SMART Health Links viewer the tests check our links with (npm, pinned by lock).
NODE_DEPS := tests/node/node_modules/.package-lock.json
$(NODE_DEPS): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error

# Development defaults for run/demo/worker: DEBUG on, embedded SQLite + filesystem broker
# unless DATABASE_URL / REDIS_URL are set in the environment.
setup: export DEBUG ?= 1
setup: export SITE_URL ?= http://127.0.0.1:$(PHR_PORT)
setup: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py demo

demo: export DEBUG ?= 1
demo: export SITE_URL ?= http://127.0.0.1:$(PHR_PORT)
demo: install
	$(PY) manage.py demo

run: export DEBUG ?= 1
run: export SITE_URL ?= http://127.0.0.1:$(PHR_PORT)
run: setup
	@echo "Serving on http://127.0.0.1:$(PHR_PORT) (web + worker + beat). Ctrl-C stops everything."
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile

worker: export DEBUG ?= 1
worker: install
	$(VENV)/bin/celery -A phr worker --loglevel=INFO

test: install $(NODE_DEPS)
	$(WITH_SERVICES) $(PY) -m pytest -m "not chaos and not smoke" $(TESTS)

# The browser tests photograph every step into var/screenshots/ (git-ignored) so a test run
# leaves the tree clean; this target retakes the images the docs show, in docs/screenshots/.
screenshots: install $(NODE_DEPS)
	PHR_SCREENSHOTS_DIR=docs/screenshots $(WITH_SERVICES) $(PY) -m pytest -m browser tests/browser

# The README's commands as a newcomer runs them: `make run` in fresh clones (PostgreSQL + Redis,
# and the embedded default) until /healthz answers and a sync completes, and `make test` with no
# services answering. Runs the smoke tests (tests/smoke).
smoke: install
	$(WITH_SERVICES) $(PY) -m pytest -m smoke tests/smoke -v

# Fault injection against real processes: workers killed, Redis restarted, connections cut,
# racing triggers, random hospital faults, attacks on shares, a soak. See docs/reliability.md.
chaos: install
	rm -f var/chaos-results.txt
	$(WITH_SERVICES) $(PY) -m pytest -m chaos tests/chaos -v

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# Security tools (offline): bandit (medium and high findings fail), the project's semgrep rules,
# and detect-secrets against the reviewed baseline. See docs/security.md.
CODE := core accounts audit notifications institutions records sharing pages phr mockhospital
SECRETS_EXCLUDE := (^|/)(\.venv|node_modules|staticfiles|var|locale)/|package-lock\.json$$|\.mo$$
security: install
	$(VENV)/bin/bandit --quiet --recursive $(CODE) --exclude '*/migrations/*' --severity-level medium
	SEMGREP_ENABLE_VERSION_CHECK=0 $(VENV)/bin/semgrep scan --config .semgrep/rules.yml \
	  --metrics=off --disable-version-check --quiet --error $(CODE) templates
	git ls-files -z | xargs -0 $(VENV)/bin/detect-secrets-hook --baseline .secrets.baseline \
	  --exclude-files '$(SECRETS_EXCLUDE)'

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks on PostgreSQL + Redis (database phr_bench, Redis db 2); BENCH_ARGS=--quick for a
# short development run. Results: benchmarks/results/latest.{json,md}; see docs/performance.md.
bench: install
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf var staticfiles .pytest_cache .ruff_cache
