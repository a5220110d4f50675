# etmad — every target sets up what it needs on a fresh machine.
#   make demo    load a generated sample estate into ./var/ and summarise it
#   make test    every test (memory and SQLite stores)
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

demo: $(STAMP)
	$(BIN)/etmad demo --store sqlite:///var/etmad.sqlite --fresh

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
	$(BIN)/python -m tests.benchmarks.srv623

clean:
	rm -rf var/*.sqlite var/*.sqlite-* .pytest_cache .mypy_cache .ruff_cache .hypothesis

distclean: clean
	rm -rf $(VENV)
