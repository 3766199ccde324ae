# Set-up is part of every target: on a fresh machine `make test` or `make demo`
# creates .venv, installs the package with its test extras, then runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The demo: ELinFormer (EALA on both axes, the CPU-sized "small" model) on the
# synthetic traffic data (20 nodes x 14 days), a few epochs, then the test
# table. `make demo ATTENTION=softmax` runs the softmax baseline;
# `make demo-long` a longer, better run. Re-running resumes (or, when done,
# re-evaluates) the run in DEMO_DIR.
ATTENTION ?= eala
DEMO_EPOCHS ?= 4
DEMO_DIR ?= results/demo
DEMO_DATA ?= $(DEMO_DIR)/data
DEMO_TRAIN = $(PY) -m entropy_attention_jax train --dataset synthetic_traffic \
	--data-dir $(DEMO_DATA) --preset small \
	--spatial-attention $(ATTENTION) --temporal-attention $(ATTENTION)

.PHONY: test test-experiments test-fast docs demo demo-long bench experiments experiments-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

# The CI suite: everything but the experiments' long quick modes.
test: $(STAMP)
	$(PY) -m pytest -q -m 'not experiments'

# Every experiment script in its --quick mode that trains models (tens of minutes).
test-experiments: $(STAMP)
	$(PY) -m pytest -q -m experiments

test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not slow'

# The API reference from the docstrings, with docs/*.md, into build/docs/
# (index.html); warnings are errors. Sphinx comes with the `docs` extra (in `dev`).
docs: $(STAMP)
	rm -rf build/docs
	$(PY) -m sphinx -b html -q -W --keep-going docs build/docs
	@echo "API reference: build/docs/index.html"

demo: $(STAMP)
	$(DEMO_TRAIN) --workdir $(DEMO_DIR)/$(ATTENTION) --epochs $(DEMO_EPOCHS)

# Twice the data (28 days), up to 20 epochs, the learning rate divided by 10
# at epochs 6 and 12, early stopping after 6 epochs without improvement.
demo-long: $(STAMP)
	$(DEMO_TRAIN) --workdir $(DEMO_DIR)/$(ATTENTION)-long --days 28 --epochs 20 \
		--set train.patience=6 --set optim.milestones=6,12

# Benchmarks: each prints its table and writes CSV/JSON/Markdown under results/.
bench: $(STAMP)
	$(PY) experiments/bench_attention.py
	$(PY) experiments/bench_entropy.py
	$(PY) experiments/bench_entropy.py --keys exponential --lengths 1024
	$(PY) experiments/theta_ablation.py
	$(PY) experiments/bench_elinformer.py
	$(PY) experiments/bench_training.py
	$(PY) experiments/bench_data.py

# The paper's analysis: tables and figures under results/ (git-ignored).
EXPERIMENTS = accuracy efficiency fidelity balance
experiments: $(STAMP)
	for e in $(EXPERIMENTS); do $(PY) experiments/$$e.py || exit 1; done
	$(PY) experiments/run_notebooks.py

experiments-quick: $(STAMP)
	for e in $(EXPERIMENTS); do $(PY) experiments/$$e.py --quick || exit 1; done
	$(PY) experiments/run_notebooks.py

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
