# The two commands of a newcomer: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_ARGS ?= --scenario home --modules 4 --days 7 --out runs/default

.PHONY: run test lint typecheck contracts unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ml314 simulate $(RUN_ARGS)
	@echo "open runs/default/report.html to read the report"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2

test: lint typecheck contracts unit

bench: $(STAMP)
	$(BIN)/python benchmarks/sim_speed.py --json runs/bench/sim_speed.json

clean:
	rm -rf $(VENV) runs .mypy_cache .ruff_cache .pytest_cache
