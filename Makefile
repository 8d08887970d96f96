# probsnn: the two-command quick start is `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: install demo test lint bench bench-nuts bench-snn clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e ".[bench]"
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/probsnn fit --out reports/demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

# ruff (pyproject [tool.ruff]) and the layering contract (pyproject [tool.importlinter]): no import upward.
lint: $(VENV)/.installed-test
	$(BIN)/ruff check probsnn tests benchmarks
	$(BIN)/lint-imports

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/glm_fit.py

# NUTS ESS/s against a NumPyro NUTS with a scan-over-time likelihood (about 25 minutes on 2 cores).
bench-nuts: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/nuts.py

# snnTorch and Spyx need torch and flax: they live in a separate venv so the main one stays lean.
.venv-bench/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --upgrade pip
	.venv-bench/bin/python -m pip install --quiet -e ".[bench]" torch==2.13.0 snntorch==1.0.0 spyx==1.0.0
	touch $@

bench-snn: .venv-bench/.installed
	.venv-bench/bin/python benchmarks/snn_throughput.py

clean:
	rm -rf $(VENV) .venv-bench reports .pytest_cache
