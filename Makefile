# make test: create .venv if missing, install the package (editable, dev extra), run the tests.
# make demo: same install, then the main job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# torch is left unpinned on purpose: pip must resolve torch and torchvision together (see DESIGN.md).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest -q tests

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" tests

demo: install
	$(BIN)/hqctf train
	$(BIN)/hqctf evaluate latest --split test

bench: install
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/sampler.py
	$(BIN)/python benchmarks/mapping.py

clean:
	rm -rf $(VENV) runs .pytest_cache
