# The README's commands. Each target does its own setup.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export RNNKIT_DATA ?= $(SHARED_DATA)
endif

.PHONY: setup test demo lint format bench clean

# Stamp file: reinstall only when the project's metadata changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

# a fresh 3-minute run each time (runs/demo is replaced)
demo: setup
	rm -rf runs/demo
	$(BIN)/rnnkit train lm --config recipes/demo.toml --out runs/demo
	$(BIN)/rnnkit sample runs/demo --prime "ROMEO:" --length 500 --seed 0

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python benchmarks/layers.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
