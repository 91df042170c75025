# The same commands run locally and in CI (.ci/run calls `make test`).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
HOST    ?= 127.0.0.1
PORT    ?= 8000

.PHONY: run test lint typecheck pytest bench install dev clean audit fuzz soak

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

run: install
	$(BIN)/tokenturn serve --demo --host $(HOST) --port $(PORT)

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: dev
	$(BIN)/mypy

pytest: dev
	$(BIN)/python -m pytest --cov --cov-report=term:skip-covered -q $(PYTEST_ARGS)

test: lint typecheck pytest audit

# Known vulnerabilities in installed packages fail the build; an unreachable audit service only warns.
audit: dev
	$(BIN)/python -m tests.hardening.audit_deps

# Long hardening runs (minutes): FUZZ_EXAMPLES requests of fuzzing, SOAK_SECONDS of paced load.
FUZZ_EXAMPLES ?= 110000
SOAK_SECONDS  ?= 300
SOAK_RATE     ?= 300
fuzz: dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q --timeout 0 tests/hardening/test_fuzz_http.py tests/hardening/test_parser_properties.py

soak: dev
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_RATE=$(SOAK_RATE) $(BIN)/python -m pytest -q --timeout 0 tests/hardening/test_soak.py

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage* htmlcov
