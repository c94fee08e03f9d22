# Two commands matter: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean bench screenshot contract-deep browser postgresql hardening

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Embedded defaults (127.0.0.1:8000); EVOLINK_MOCK_* variables change them (docs/configuration.md).
run: $(STAMP)
	$(BIN)/evolink-mock serve

# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set (as on our CI image): every
# pytest process otherwise compiles our modules and assertion-rewrites ~465 plugin modules
# again (collecting tests/test_schemathesis.py: 22-29 s without the cache, 11-15 s with it,
# load average 6), and the suite starts dozens of pytest and server processes.
# --dist worksteal: tests, not files, are handed out, and an idle worker takes half of the
# other's queue: the longest files (the documents run as pasted, the contract runs against
# broken servers: 2-4 minutes each of a worker under load) no longer end the run on one
# worker while the other waits. Module-scoped servers start at most once per worker.
test: lint browser postgresql
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n auto --dist worksteal

# ruff over the whole checkout, mypy over the directories pyproject.toml lists (every one
# that holds our Python); the rules and the reason for each exception are there too.
# Measured on this 2-core machine: ruff 1.4 s cold, 0.1 s cached; mypy 4 s with its
# .mypy_cache, cold (a fresh clone, as in CI) 16 s for mock_server + contract_tests when
# idle and 135 s for the whole tree at load average 8.7. A local `make test` pays ~5 s.
lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy

# The dashboard's browser tests drive Debian's chromium through its chromedriver; install them
# when missing and possible, otherwise those tests skip and say why.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	      || echo "chromium could not be installed: the browser tests will be skipped"; \
	  else echo "chromium is not installed (needs root and apt-get): the browser tests will be skipped"; fi; \
	fi

# The replica tests start their own PostgreSQL server (Debian's postgresql package, run as the
# unprivileged `postgres` user when we are root); install it when missing and possible,
# otherwise those tests skip and say why.
postgresql:
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
	      || echo "postgresql could not be installed: the replica tests will be skipped"; \
	  else echo "postgresql is not installed (needs root and apt-get): the replica tests will be skipped"; fi; \
	fi

# Throughput, latency, memory, callback bursts, fixture cost vs Stoplight Prism; see
# bench/README.md. One measurement: make bench ONLY=callbacks (or fixture, ...).
# How long each target takes is stated once, in the README's table.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(ONLY),--only $(ONLY))

# docs/dashboard.png, from a scripted session (needs Debian's chromium and chromium-driver).
screenshot: $(STAMP)
	$(BIN)/python -m scripts.screenshot docs/dashboard.png

# Every contract check against a fresh mock, 1,000 generated cases per operation.
contract-deep: $(STAMP)
	$(BIN)/python -m contract_tests.deep

# Deep fuzz, SSRF matrix, 10-minute soak, kill -9 crash runs, auth checks; reports in
# reports/. Sizes: HARDENING_* variables, see hardening/run.py.
hardening: $(STAMP)
	$(BIN)/python -m hardening.run

# The venv, caches, and what the targets and the documented walk-throughs leave behind
# (reports, bench scratch, the throw-away certificates and downloaded video).
clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache reports bench/.tmp build \
	  *.egg-info certs result.mp4 task.json
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
