# Two entry points for a fresh machine (see README): `make demo` and `make test`.
# Each creates the virtual environment it needs in .venv and installs the project into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean screenshot

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	scripts/system-packages.sh demo
	$(BIN)/hallctl demo

test: $(VENV)/.installed lint
	scripts/system-packages.sh test
	$(BIN)/pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_store.py

screenshot: $(VENV)/.installed  # docs/img/live-hall.png from a running demo (Debian chromium)
	$(BIN)/python -m tests.e2e.readme_screenshot

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
