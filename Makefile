# The two set-up commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench
# The Node BullMQ of the interop tests, pinned by tests/node/package-lock.json.
NODE_DIR := tests/node
STAMP_NODE := $(NODE_DIR)/node_modules/.installed
# bull-board (API and Express adapter) for the BullMQ reading benchmark, pinned by benchmarks/node/package-lock.json;
# installed by `make bench` only.
BENCH_NODE_DIR := benchmarks/node
STAMP_BENCH_NODE := $(BENCH_NODE_DIR)/node_modules/.installed
# Parallel test processes: most of the suite waits on Redis, workers and timers, so more than the cores.
TEST_WORKERS ?= 6

# The Pythons the project supports (pyproject.toml says the same); `make test-pythons` runs each found.
SUPPORTED_PYTHONS := 3.11 3.12 3.13

.PHONY: run test test-pythons lint bench soak screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The window needs the gui extra; a worker host installs the base package only (see README).
# --no-compile: Python compiles the modules a program imports when it first imports them; compiling
# every installed file up front (mypy, hypothesis, numpy...) took half of a fresh install's time.
$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --no-compile -e '.[gui]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --no-compile -e '.[gui,test]'
	touch $@ $(STAMP_RUN)

$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --no-compile -e '.[gui,test,bench]'
	touch $@ $(STAMP_RUN) $(STAMP_TEST)

run: $(STAMP_RUN)
	$(BIN)/thesis-console $(ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check thesis_console worker_runner tests benchmarks
	$(BIN)/mypy thesis_console/core thesis_console/cli.py thesis_console/cli_watch.py thesis_console/ui worker_runner
	$(BIN)/lint-imports

$(STAMP_NODE): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ echo "make test needs Node.js 20 or newer and npm for the BullMQ interop tests: install nodejs and npm"; exit 1; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(STAMP_TEST) $(STAMP_NODE) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=15 $(PYTEST_ARGS)

# The whole `make test` once per supported Python found (on PATH, or under pyenv even when it is not
# the selected version), each in its own .venv-3.X; a summary at the end, exit 1 when any failed.
test-pythons:
	@failed=""; tried=""; \
	for v in $(SUPPORTED_PYTHONS); do \
	  py=$$(python$$v -c 'import sys; print(sys.executable)' 2>/dev/null); \
	  if [ -z "$$py" ]; then \
	    for candidate in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v; do \
	      [ -x "$$candidate" ] && py=$$candidate; \
	    done; \
	  fi; \
	  if [ -z "$$py" ]; then echo "== Python $$v: not found, skipped"; continue; fi; \
	  echo "== Python $$v: $$py"; tried="$$tried $$v"; \
	  $(MAKE) --no-print-directory test VENV=.venv-$$v PYTHON=$$py || failed="$$failed $$v"; \
	done; \
	if [ -z "$$tried" ]; then echo "no supported Python ($(SUPPORTED_PYTHONS)) found"; exit 1; fi; \
	if [ -n "$$failed" ]; then echo "== failed on:$$failed (passed: the others of$$tried)"; exit 1; fi; \
	echo "== passed on:$$tried"

$(STAMP_BENCH_NODE): $(BENCH_NODE_DIR)/package.json $(BENCH_NODE_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ echo "make bench needs Node.js 20 or newer and npm for bull-board and Node BullMQ: install nodejs and npm"; exit 1; }
	cd $(BENCH_NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

bench: $(STAMP_BENCH) $(STAMP_NODE) $(STAMP_BENCH_NODE)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m benchmarks $(ARGS)

soak: $(STAMP_TEST)
	$(BIN)/python -m benchmarks.soak $(ARGS)

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .mypy_cache .ruff_cache
