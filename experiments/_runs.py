"""Training runs shared by the experiment scripts, cached by work directory.

Each run lives in `<root>/<dataset>/<label>/seed<seed>/` (a normal `train`
work directory). A run whose `test_metrics.json` exists is reused, so the
scripts can be re-run, interrupted and resumed, and share runs with each other
(`balance.py` and `fidelity.py` read the models `accuracy.py` trained). Delete
the directory to retrain.
"""

from __future__ import annotations

import itertools
import json
import math
import pathlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp

from entropy_attention_jax import training

DEFAULT_ROOT = "results/runs"
METRICS = ("mae", "rmse", "mape")


def run_dir(root: str | pathlib.Path, dataset: str, label: str, seed: int) -> pathlib.Path:
  return pathlib.Path(root) / dataset / label / f"seed{seed}"


def train_cached(
    dataset: str,
    label: str,
    seed: int,
    *,
    root: str | pathlib.Path = DEFAULT_ROOT,
    overlays: Sequence[str] = ("small",),
    overrides: Mapping[str, Any] | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
  """Trains one run (or reads its stored test metrics) and returns the test metrics.

  Args:
    dataset: dataset name (its preset is the starting config).
    label: names the variant (e.g. the attention kind); part of the work directory.
    seed: `train.seed`.
    root: where runs live.
    overlays: size overlays (see `training.SIZE_OVERLAYS`).
    overrides: dotted `key: value` overrides, applied after the overlays.
    verbose: print one line per run.
  """
  cached = cached_metrics(root, dataset, label, seed)
  if cached is not None:
    return cached
  workdir = run_dir(root, dataset, label, seed)
  config = training.get_config(
      dataset, overlays=overlays, overrides={**(overrides or {}), "train.seed": seed}
  )
  start = time.time()
  metrics = training.train(config, workdir, show_progress=False, echo=lambda _: None)
  if verbose:
    print(
        f"  trained {dataset}/{label}/seed{seed}: test MAE {metrics['mae']:.3f}"
        f" ({time.time() - start:.0f} s)",
        flush=True,
    )
  return metrics


def cached_metrics(root: str | pathlib.Path, dataset: str, label: str, seed: int) -> dict[str, Any] | None:
  """The stored test metrics of a finished run, or None if it has not finished."""
  stored = run_dir(root, dataset, label, seed) / "test_metrics.json"
  return json.loads(stored.read_text()) if stored.exists() else None


def load_model(workdir: str | pathlib.Path, checkpoint: str = "best"):
  """`(model, data)` of a trained run: its ELinFormer (eval mode) and its `ForecastingData`."""
  loaded = training.load_model(workdir, checkpoint)
  return loaded.model, training.load_data(loaded.config.data)


def test_inputs(data, batches: int, batch_size: int = 16):
  """The model inputs `x` of the first `batches` test batches, as JAX arrays."""
  for batch in itertools.islice(data.test.batches(batch_size), batches):
    yield jnp.asarray(batch["x"])


def mean_std(values: Sequence[float]) -> tuple[float, float]:
  """Mean and sample standard deviation (0 for a single value)."""
  mean = sum(values) / len(values)
  if len(values) < 2:
    return mean, 0.0
  return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def metric_rows(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
  """Mean ± std over seeds: `{horizon: {metric: (mean, std)}}`, horizon "average" included."""
  horizons = ["average"] + sorted(
      set.intersection(*(set(r["horizons"]) for r in results)), key=int
  )
  table = {}
  for horizon in horizons:
    pick = (lambda r: r) if horizon == "average" else (lambda r: r["horizons"][horizon])
    table[horizon] = {m: mean_std([pick(r)[m] for r in results]) for m in METRICS}
  return table


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
  return f"{mean:.{digits}f} ± {std:.{digits}f}"
