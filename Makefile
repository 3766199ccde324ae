# Set-up is part of every target: on a fresh machine `make test` or `make demo`
# creates .venv, installs the package with its test extras, then runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-fast demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not slow'

demo: $(STAMP)
	$(PY) experiments/bench_attention.py --quick

bench: $(STAMP)
	$(PY) experiments/bench_attention.py
	$(PY) experiments/bench_entropy.py

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
