# The two commands of a newcomer: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_ARGS ?= --modules 4 --rs485 tcp://127.0.0.1:8485

.PHONY: run test lint typecheck contracts unit system screenshots bench clean

# Install, then compile and cache every numba kernel once (a minute or two), so no later start has to.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ml314.runtime.precompile
	touch $(STAMP)

# The main job: the bank live, Pylon CAN on the virtual bus and Pylon RS485 on tcp://127.0.0.1:8485; Ctrl-C stops.
run: $(STAMP)
	$(BIN)/ml314 run $(RUN_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

# Debian packages some tests use (PostgreSQL binaries, Chromium): installed when missing and allowed (root/sudo).
system:
	@bash scripts/system-packages

# six workers on two cores: most tests wait on real time (live links, processes), so more workers overlap the waits
unit: $(STAMP) system
	$(BIN)/python -m pytest -n 6 --durations=10

# mypy runs beside pytest: the tests leave a core idle most of the time
test: lint contracts
	@$(MAKE) --no-print-directory -j2 typecheck unit

# The README's screenshots of the pages, made by the browser tests
screenshots: $(STAMP) system
	ML314_SCREENSHOTS=docs $(BIN)/python -m pytest tests/web/test_pages_browser.py tests/storage/test_report_browser.py -q

# Every benchmark with the venv's python, JSON in runs/bench/; `make bench BENCH_ARGS=--quick` for a short pass.
BENCHMARKS := $(basename $(notdir $(wildcard benchmarks/[a-z]*.py)))
BENCH_ARGS ?=
bench: $(STAMP)
	@mkdir -p runs/bench
	@for b in $(BENCHMARKS); do \
		echo "== benchmarks/$$b.py"; \
		$(BIN)/python benchmarks/$$b.py $(BENCH_ARGS) --json runs/bench/$$b.json || exit 1; \
	done

clean:
	rm -rf $(VENV) runs .mypy_cache .ruff_cache .pytest_cache
