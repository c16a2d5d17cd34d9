# The two set-up commands: `make run` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench
# Parallel test processes: most of the suite waits on Redis, workers and timers, so more than the cores.
TEST_WORKERS ?= 6

.PHONY: run test lint bench soak screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The window needs the gui extra; a worker host installs the base package only (see README).
$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[gui]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[gui,test]'
	touch $@ $(STAMP_RUN)

$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[gui,test,bench]'
	touch $@ $(STAMP_RUN) $(STAMP_TEST)

run: $(STAMP_RUN)
	$(BIN)/thesis-console $(ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check thesis_console worker_runner tests benchmarks
	$(BIN)/mypy thesis_console/core thesis_console/cli.py thesis_console/cli_watch.py worker_runner
	$(BIN)/lint-imports

test: $(STAMP_TEST) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=15 $(PYTEST_ARGS)

bench: $(STAMP_BENCH)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m benchmarks $(ARGS)

soak: $(STAMP_TEST)
	$(BIN)/python -m benchmarks.soak $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
