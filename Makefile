# etmad — every target sets up what it needs on a fresh machine.
#   make demo    load a generated sample estate into ./var/ and summarise it
#                (STORE=postgresql: on a PostgreSQL server started under ./var/postgres)
#   make test    every test (memory, SQLite and PostgreSQL stores)
#   make check   ruff, mypy --strict, import-linter
#   make bench   benchmarks (ratios against a baseline measured in the same run)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test check bench clean distclean system-packages

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "etmad needs Python 3.11 or later")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# The demo's store: sqlite (./var/etmad.sqlite) or postgresql (a fresh server under
# ./var/postgres, started for the run and stopped after it; its data stays there).
STORE ?= sqlite

demo: $(STAMP) $(if $(filter postgresql,$(STORE)),system-packages)
ifeq ($(STORE),postgresql)
	$(BIN)/python -m tests.postgres_support run var/postgres -- $(BIN)/etmad demo --store '{url}'
else ifeq ($(STORE),sqlite)
	$(BIN)/etmad demo --store sqlite:///var/etmad.sqlite --fresh
else
	$(error STORE=$(STORE): expected sqlite or postgresql)
endif

system-packages:
	@.ci/system-packages

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks
	$(BIN)/python -m tests.benchmarks.programme --stores postgresql --devices 20000
	$(BIN)/python -m tests.benchmarks.srv623
	$(BIN)/python -m tests.benchmarks.signers

clean:
	rm -rf var/*.sqlite var/*.sqlite-* var/postgres .pytest_cache .mypy_cache .ruff_cache .hypothesis

distclean: clean
	rm -rf $(VENV)
