# The two commands of a newcomer: `make run` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_ARGS ?= --modules 4 --rs485 tcp://127.0.0.1:8485

.PHONY: run test lint typecheck contracts unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2

test: lint typecheck contracts unit

bench: $(STAMP)
	$(BIN)/python benchmarks/sim_speed.py --json runs/bench/sim_speed.json
	$(BIN)/python benchmarks/protocols.py --json runs/bench/protocols.json

clean:
	rm -rf $(VENV) runs .mypy_cache .ruff_cache .pytest_cache
