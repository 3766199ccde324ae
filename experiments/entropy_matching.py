"""Does entropy equality matter? Every attention kind on a task that separates them.

The task is `lagged_network` (`entropy_attention_jax/data/lagged_network.py`):
each node's future is one specific other node's delayed past, and each node
shows its own code and its parent's code as constant channels, so attention
over the nodes has to *pick* the parent (uniform weights have nothing to read).
Kinds, the same on both axes, same data, seeds, model and budget:

* ``softmax``; ``uniform`` (EALA with θ = 0); ``taylor`` (θ ≡ 1);
* ``eala-<estimator>`` for each estimator (second-order θ solve, the paper's);
* ``eala4-<estimator>``: the fourth-order θ solve (`theta_solve="fourth_order"`);
* ``eala-nonneg`` (anchored bound) and ``eala-nonneg-centered``;
* ``linear`` (elu+1) and ``performer``.

Prints test MAE per kind (mean ± 95 % t-interval over seeds), the paired
differences against Taylor and against elu+1 linear (per seed, same data and
initialisation; "beats" = the 95 % interval of the difference is below 0), and
per layer how close each kind's weights are to softmax's on the same queries and
keys (entropy gap on rows whose weights are all ≥ 0, share of rows with a
negative weight, total variation, Spearman rank correlation), then the
verdicts on the issue's targets. Draws the MAE per kind.

  python experiments/entropy_matching.py --out results/entropy_matching --lock /tmp/heavy.lock
  python experiments/entropy_matching.py --quick      # CI smoke test: 2 kinds, 1 seed, tiny data

Runs are cached under `--runs` (default `<out>/runs`, see `_runs.py`): an
interrupted run resumes, `--cached-only` tabulates what has finished. With
`--lock PATH` the runs of each seed hold that file lock (`flock`) while they train.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import pathlib

import numpy as np
from scipy import stats as scipy_stats

import _bench_utils as bu
import _runs

DATASET = "lagged_network"

# label -> (kind, attention_options); one ELinFormer per label, the kind on both axes.
KINDS: dict[str, tuple[str, dict]] = {
    "softmax": ("softmax", {}),
    "uniform": ("eala", {"theta_scale": 0.0}),
    "taylor": ("taylor", {}),
    "eala-cumulant2": ("eala", {"estimator": "cumulant2"}),
    "eala-gaussian_ensemble": ("eala", {"estimator": "gaussian_ensemble"}),
    "eala-cumulant3": ("eala", {"estimator": "cumulant3"}),
    "eala4-cumulant2": ("eala", {"estimator": "cumulant2", "theta_solve": "fourth_order"}),
    "eala4-cumulant3": ("eala", {"estimator": "cumulant3", "theta_solve": "fourth_order"}),
    "eala-nonneg": ("eala", {"nonneg": True}),
    "eala-nonneg-centered": ("eala", {"nonneg": "centered"}),
    "linear": ("linear", {}),
    "performer": ("performer", {}),
}
QUICK_KINDS = ("softmax", "eala4-cumulant3")

# The task and a model that trains on it in ~20 s of CPU (2 cores).
TASK = {"nodes": 32, "days": 5, "parents": 1, "max_delay": 3, "codes": 4, "seed": 0}
QUICK_TASK = {"nodes": 6, "days": 1, "parents": 1, "max_delay": 3, "codes": 2, "seed": 0}
MODEL = {
    "model.window_normalization": "none", "model.input_embedding_dim": 16,
    "model.tod_embedding_dim": 0, "model.dow_embedding_dim": 0,
    "model.adaptive_embedding_dim": 0, "model.feed_forward_dim": 32, "model.num_heads": 2,
    "model.num_temporal_layers": 1, "model.num_spatial_layers": 1, "model.dropout_rate": 0.0,
    "data.in_steps": 12, "data.out_steps": 3,
    "train.batch_size": 8, "train.epochs": 6, "train.patience": 10, "train.loss": "mae",
    "train.mask_zeros": False, "optim.learning_rate": 3e-3, "optim.milestones": (100,),
}


def overrides(label: str, task: dict, data_dir: str, epochs: int) -> dict:
  kind, options = KINDS[label]
  channels = tuple(range(1 + 2 * task["codes"]))
  return {
      **MODEL, "data.data_dir": data_dir, "data.builder_options": task,
      "data.input_channels": channels, "train.epochs": epochs,
      "model.spatial_attention": kind, "model.temporal_attention": kind,
      "model.attention_options": options,
  }


@contextlib.contextmanager
def held(lock_path: str | None):
  if not lock_path:
    yield
    return
  with open(lock_path, "a") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- weights vs softmax


def _entropy(w: np.ndarray) -> np.ndarray:
  return -np.sum(np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0), -1)


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  ra = np.argsort(np.argsort(a, -1), -1).astype(np.float64)
  rb = np.argsort(np.argsort(b, -1), -1).astype(np.float64)
  ra -= ra.mean(-1, keepdims=True)
  rb -= rb.mean(-1, keepdims=True)
  denominator = np.sqrt((ra**2).sum(-1) * (rb**2).sum(-1))
  flat = (np.ptp(a, -1) < 1e-9) | (np.ptp(b, -1) < 1e-9)  # constant rows: no ranking
  return np.where(flat | (denominator == 0), np.nan, (ra * rb).sum(-1) / np.where(denominator > 0, denominator, 1.0))


def closeness(own: np.ndarray, softmax: np.ndarray) -> dict[str, float]:
  """How far one layer's weights `[..., q, k]` are from softmax's on the same q, k."""
  own = np.asarray(own, np.float64).reshape(-1, own.shape[-1])
  softmax = np.asarray(softmax, np.float64).reshape(-1, softmax.shape[-1])
  nonneg = np.all(own >= -1e-7, -1)
  gap = _entropy(np.clip(own, 0, None)) - _entropy(softmax)
  return {
      "entropy_gap": float(np.mean(gap[nonneg])) if nonneg.any() else float("nan"),
      "abs_entropy_gap": float(np.mean(np.abs(gap[nonneg]))) if nonneg.any() else float("nan"),
      "negative_rows": float(1 - nonneg.mean()),
      "total_variation": float(np.mean(0.5 * np.abs(own - softmax).sum(-1))),
      "rank_correlation": float(np.nanmean(_spearman_rows(own, softmax)))
      if np.any(~np.isnan(_spearman_rows(own, softmax))) else float("nan"),
      "softmax_entropy": float(np.mean(_entropy(softmax))),
  }


def weight_closeness(workdir: pathlib.Path, batches: int = 2) -> dict[str, dict[str, float]]:
  """Per layer closeness of a trained run's weights to softmax's (cached in the run)."""
  cached = workdir / "weights_vs_softmax.json"
  if cached.exists():
    return json.loads(cached.read_text())
  from entropy_attention_jax.nn import capture_attention_diagnostics  # after the runs' jax setup

  model, data = _runs.load_model(workdir)
  model.eval()
  layers: dict[str, list[dict[str, float]]] = {}
  for x in _runs.test_inputs(data, batches, batch_size=8):
    _, diagnostics = capture_attention_diagnostics(model, x)
    for layer, values in diagnostics.items():
      if "attention_weights" not in values:
        continue
      own = values["attention_weights"]
      reference = values.get("softmax_weights", own)  # softmax: itself
      layers.setdefault(layer, []).append(closeness(np.asarray(own), np.asarray(reference)))
  summary = {
      layer: {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
      for layer, rows in layers.items()
  }
  cached.write_text(json.dumps(summary, indent=1))
  return summary


# ---------------------------------------------------------------- statistics


def t_interval(values) -> tuple[float, float]:
  """Mean and half-width of the 95 % t-interval (nan half-width for one value)."""
  values = np.asarray(values, np.float64)
  if len(values) < 2:
    return float(values.mean()), float("nan")
  half = scipy_stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
  return float(values.mean()), float(half)


def fmt(mean: float, half: float, digits: int = 4) -> str:
  return f"{mean:.{digits}f} ± {half:.{digits}f}"


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="CI smoke test: 2 kinds, 1 seed, tiny task, 1 epoch")
  parser.add_argument("--seeds", type=int, default=None, help="seeds per kind (default 5; 1 quick)")
  parser.add_argument("--kinds", default=None, help="comma-separated labels (default: all)")
  parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 6; 1 quick)")
  parser.add_argument("--out", default=None, help="directory for tables (CSV/MD/JSON) and the figure")
  parser.add_argument("--runs", default=None, help="run directory root (default <out>/runs)")
  parser.add_argument("--data-dir", default=None, help="where the task is built (default <runs>/tfds)")
  parser.add_argument("--lock", default=None, help="file lock held while each seed's runs train")
  parser.add_argument("--cached-only", action="store_true", help="tabulate finished runs only")
  args = parser.parse_args(argv)

  kinds = args.kinds.split(",") if args.kinds else list(QUICK_KINDS if args.quick else KINDS)
  unknown = [k for k in kinds if k not in KINDS]
  if unknown:
    parser.error(f"unknown kind(s) {unknown}; known: {list(KINDS)}")
  seeds = range(args.seeds or (1 if args.quick else 5))
  epochs = args.epochs or (1 if args.quick else MODEL["train.epochs"])
  task = QUICK_TASK if args.quick else TASK
  out = pathlib.Path(args.out) if args.out else None
  root = pathlib.Path(args.runs) if args.runs else (
      out / "runs" if out else pathlib.Path("results/entropy_matching_" + ("quick" if args.quick else "full")))
  data_dir = args.data_dir or str(root / "tfds")
  print(f"{DATASET} {task}; {len(kinds)} kinds x {len(seeds)} seeds, {epochs} epochs; runs in {root}")

  mae: dict[str, dict[int, float]] = {k: {} for k in kinds}
  layers: dict[str, list[dict]] = {k: [] for k in kinds}
  for seed in seeds:  # seed-major: partial results stay balanced across kinds
    # One lock hold per seed (all kinds, a few minutes), not per run: fewer waits.
    with held(None if args.cached_only else args.lock):
      for label in kinds:
        if args.cached_only:
          metrics = _runs.cached_metrics(root, DATASET, label, seed)
          if metrics is None:
            continue
        else:
          metrics = _runs.train_cached(
              DATASET, label, seed, root=root, overlays=(),
              overrides=overrides(label, task, data_dir, epochs),
          )
        mae[label][seed] = metrics["mae"]
        layers[label].append(weight_closeness(_runs.run_dir(root, DATASET, label, seed)))

  # ---- table 1: MAE per kind
  rows, records = [], []
  soft = t_interval(list(mae["softmax"].values()))[0] if mae.get("softmax") else float("nan")
  for label in kinds:
    values = list(mae[label].values())
    if not values:
      continue
    mean, half = t_interval(values)
    rows.append([label, len(values), fmt(mean, half), f"[{mean - half:.4f}, {mean + half:.4f}]",
                 f"{100 * (mean - soft) / soft:+.1f} %"])
    records.append(dict(kind=label, seeds=len(values), mae_mean=mean, mae_ci95=half,
                        vs_softmax_pct=100 * (mean - soft) / soft))
  table1 = bu.markdown_table(["kind", "seeds", "test MAE (mean ± 95 % t)", "95 % interval", "vs softmax"], rows)
  print("\nTest MAE per kind\n" + table1)
  bu.write_results(str(out) if out else None, "mae", records, table1)

  # ---- table 2: paired differences
  rows, records = [], []
  for reference in ("taylor", "linear"):
    if reference not in mae or not mae[reference]:
      continue
    for label in kinds:
      if label == reference:
        continue
      common = sorted(set(mae[label]) & set(mae[reference]))
      if len(common) < 2:
        continue
      diff = [mae[label][s] - mae[reference][s] for s in common]
      mean, half = t_interval(diff)
      beats = mean + half < 0
      rows.append([label, reference, len(common), fmt(mean, half),
                   f"{100 * mean / np.mean([mae[reference][s] for s in common]):+.1f} %",
                   "yes" if beats else ("worse" if mean - half > 0 else "no")])
      records.append(dict(kind=label, reference=reference, seeds=len(common), diff_mean=mean,
                          diff_ci95=half, beats=beats))
  table2 = bu.markdown_table(
      ["kind", "minus", "seeds", "paired MAE difference (95 % t)", "relative", "beats (95 %)"], rows)
  print("\nPaired differences (kind − reference, same seed)\n" + table2)
  bu.write_results(str(out) if out else None, "paired", records, table2)

  # ---- table 3: weights vs softmax per layer
  rows, records = [], []
  for label in kinds:
    if not layers[label]:
      continue
    for layer in sorted(layers[label][0]):
      stats = {k: float(np.nanmean([run[layer][k] for run in layers[label] if layer in run]))
               for k in layers[label][0][layer]}
      rows.append([label, layer.replace("/attention", ""), f"{stats['softmax_entropy']:.2f}",
                   f"{stats['entropy_gap']:+.3f}", f"{100 * stats['negative_rows']:.0f} %",
                   f"{stats['total_variation']:.3f}", f"{stats['rank_correlation']:.3f}"])
      records.append(dict(kind=label, layer=layer, **stats))
  table3 = bu.markdown_table(
      ["kind", "layer", "H softmax", "H(w) − H softmax (rows w ≥ 0)", "rows with w < 0",
       "total variation", "rank corr."], rows)
  print("\nWeights against softmax's on the same queries and keys (test inputs, mean over seeds)\n"
        + table3)
  bu.write_results(str(out) if out else None, "weights_vs_softmax", records, table3)

  # ---- verdicts
  print()
  def interval(label):
    return t_interval(list(mae[label].values()))
  s_mean = interval("softmax")[0] if mae.get("softmax") else float("nan")
  if all(mae.get(k) for k in ("softmax", "uniform", "linear")):
    s_mean, s_half = interval("softmax")
    for other in ("uniform", "linear"):
      o_mean, o_half = interval(other)
      separated = s_mean + s_half < o_mean - o_half
      print(f"softmax {s_mean:.4f} vs {other} {o_mean:.4f}: {100 * (o_mean - s_mean) / o_mean:.1f} % lower,"
            f" 95 % intervals {'do not overlap' if separated else 'overlap'}")
  for label in kinds:
    if not label.startswith("eala") or not mae[label] or not mae.get("softmax"):
      continue
    checks = []
    for reference in ("taylor", "linear"):
      common = sorted(set(mae[label]) & set(mae.get(reference, {})))
      if len(common) >= 2:
        m, h = t_interval([mae[label][s] - mae[reference][s] for s in common])
        checks.append(f"beats {reference}: {'yes' if m + h < 0 else 'no'}")
    gap = 100 * (interval(label)[0] - s_mean) / s_mean if mae.get("softmax") else float("nan")
    checks.append(f"within 3 % of softmax: {'yes' if gap <= 3 else 'no'} ({gap:+.1f} %)")
    print(f"{label}: " + "; ".join(checks))

  if out:
    plot(mae, kinds, out / "entropy_matching.png")
    print(f"\nwrote {out}/mae.*, paired.*, weights_vs_softmax.*, entropy_matching.png")


def plot(mae, kinds, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  labels = [k for k in kinds if mae[k]]
  means, halves = zip(*(t_interval(list(mae[k].values())) for k in labels))
  fig, ax = plt.subplots(figsize=(1 + 0.7 * len(labels), 3.8))
  ax.bar(range(len(labels)), means, yerr=np.nan_to_num(halves), capsize=3,
         color=["tab:red" if k == "softmax" else "tab:blue" if k.startswith("eala") else "tab:gray"
                for k in labels])
  for i, k in enumerate(labels):
    ax.scatter([i] * len(mae[k]), list(mae[k].values()), s=8, color="black", zorder=3)
  ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
  ax.set_ylabel("test MAE (mean ± 95 % t)")
  ax.set_ylim(min(min(v.values()) for v in (mae[k] for k in labels)) * 0.95,
              max(max(v.values()) for v in (mae[k] for k in labels)) * 1.02)
  ax.set_title(f"{DATASET}: ELinFormer per attention kind")
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)


if __name__ == "__main__":
  main()
