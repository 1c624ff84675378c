# Two commands do all the set-up on a fresh machine (Python >= 3.10 with venv):
#   make notebook   create .venv, install idslab with its extras, open notebooks/01_ids_vs_flip.py in marimo
#   make test       the same set-up, Chromium for the browser test, then the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: notebook test setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

notebook: $(STAMP)
	$(BIN)/marimo edit notebooks/01_ids_vs_flip.py

test: $(STAMP)
	bash scripts/setup_browser.sh
	$(BIN)/python -m pytest
