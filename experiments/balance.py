"""Do trained forecasters attend through moderate, balanced weights?

(a) Layer by layer, the entropy of the attention weights of trained softmax
and EALA ELinFormers on test windows, normalised by log L (1 = uniform), with
EALA's θ and share of negative weights. For EALA the weights' entropy is the
entropy target it matched; the exact softmax entropy of the *same* projected
queries and keys is shown beside it.

(b) Accuracy when EALA's entropy target is shifted: θ is multiplied by a knob
(`model.attention_options.theta_scale`): 0 gives uniform weights (mean
pooling), < 1 flatter, > 1 sharper weights than entropy-matched.

  python experiments/balance.py            # reuses the runs of accuracy.py (same settings)
  python experiments/balance.py --quick
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import _bench_utils as bu
import _runs
from accuracy import DATASETS, parse_overrides
from entropy_attention_jax.nn import capture_attention_diagnostics

THETA_SCALES = (0.0, 0.5, 1.0, 2.0, 4.0)


def layer_entropies(workdir, *, batches: int = 2):
  """Per-layer normalised entropies and θ statistics over the first test batches."""
  model, data = _runs.load_model(workdir)
  model.eval()
  collected: dict[str, dict[str, list]] = {}
  for x in _runs.test_inputs(data, batches):
    _, diagnostics = capture_attention_diagnostics(model, x)
    for layer, values in diagnostics.items():
      for name, value in values.items():
        collected.setdefault(layer, {}).setdefault(name, []).append(np.asarray(value))
  rows = {}
  for layer, values in collected.items():
    exact = np.concatenate([x.ravel() for x in values["softmax_entropy"]])
    length = _layer_length(layer, data)
    row = {"length": length, "softmax_entropy": float(exact.mean() / np.log(length))}
    if "entropy_target" in values:
      row["entropy_target"] = float(np.concatenate([x.ravel() for x in values["entropy_target"]]).mean() / np.log(length))
      row["theta"] = float(np.concatenate([x.ravel() for x in values["theta"]]).mean())
    if "attention_weights" in values:
      weights = np.concatenate([x.reshape(-1, x.shape[-1]) for x in values["attention_weights"]])
      row["negative_share"] = float((weights < 0).mean())
      row["max_weight_times_length"] = float(weights.max(-1).mean() * length)
    rows[layer] = row
  return rows


def _layer_length(layer: str, data) -> int:
  return data.in_steps if layer.startswith("temporal") else data.num_nodes


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
  parser.add_argument("--seeds", type=int, nargs="*", default=None)
  parser.add_argument("--epochs", type=int, default=None)
  parser.add_argument("--theta-scales", type=float, nargs="*", default=list(THETA_SCALES))
  parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
  parser.add_argument("--runs", default=_runs.DEFAULT_ROOT)
  parser.add_argument("--out", default="results/balance")
  args = parser.parse_args(argv)
  seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
  overlays = ["tiny" if args.quick else "small"]
  base = parse_overrides(args.overrides)
  base["train.epochs"] = args.epochs or (1 if args.quick else 8)
  root = pathlib.Path(args.runs) / ("quick" if args.quick else "full")
  print(f"# Attention balance — {bu.machine_description()}\n", flush=True)

  # (a) entropy per layer of trained softmax and EALA models (seed 0).
  rows, records = [], []
  for dataset in args.datasets:
    for kind in ("softmax", "eala"):
      overrides = {**base, "model.spatial_attention": kind, "model.temporal_attention": kind}
      _runs.train_cached(dataset, kind, seeds[0], root=root, overlays=overlays, overrides=overrides)
      for layer, row in layer_entropies(_runs.run_dir(root, dataset, kind, seeds[0])).items():
        records.append(dict(dataset=dataset, kind=kind, layer=layer, **row))
        rows.append([
            dataset, kind, layer, row["length"], f"{row['softmax_entropy']:.3f}",
            f"{row['entropy_target']:.3f}" if "entropy_target" in row else "—",
            f"{row['theta']:.2f}" if "theta" in row else "—",
            f"{row['negative_share']:.1%}" if "negative_share" in row else "—",
            f"{row['max_weight_times_length']:.2f}" if "max_weight_times_length" in row else "—",
        ])
  entropy_table = bu.markdown_table(
      ["dataset", "model", "layer", "L", "softmax H / log L", "EALA target Ĥ / log L", "mean θ",
       "negative weights", "L · max weight"], rows)
  print("## Entropy of attention per layer (1 = uniform)\n\n" + entropy_table + "\n", flush=True)

  # (b) accuracy versus the θ knob.
  sweep_rows, sweep_records = [], []
  for dataset in args.datasets:
    for scale in args.theta_scales:
      label = "eala" if scale == 1.0 else f"eala_theta{scale:g}"
      overrides = {**base, "model.spatial_attention": "eala", "model.temporal_attention": "eala",
                   "model.attention_options.theta_scale": scale}
      if scale == 1.0:
        overrides.pop("model.attention_options.theta_scale")
      runs = [_runs.train_cached(dataset, label, s, root=root, overlays=overlays, overrides=overrides)
              for s in seeds]
      mae = _runs.mean_std([r["mae"] for r in runs])
      sweep_records.append(dict(dataset=dataset, theta_scale=scale, mae_mean=mae[0], mae_std=mae[1]))
      sweep_rows.append([dataset, f"{scale:g}", _runs.format_mean_std(*mae)])
  sweep_table = bu.markdown_table(["dataset", "θ scale", "test MAE (mean ± std)"], sweep_rows)
  print("## Accuracy versus the θ knob (0 = uniform weights, 1 = entropy-matched)\n\n" + sweep_table)

  bu.write_results(args.out, "balance_entropy", records, entropy_table)
  bu.write_results(args.out, "balance_theta", sweep_records, sweep_table)
  plot(records, sweep_records, pathlib.Path(args.out) / "balance.png")
  print(f"\nwrote {args.out}/balance_entropy.md, balance_theta.md, balance.png")


def plot(records, sweep_records, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  datasets = sorted({r["dataset"] for r in records})
  fig, axes = plt.subplots(2, len(datasets), figsize=(5.5 * len(datasets), 7), squeeze=False)
  for col, dataset in enumerate(datasets):
    ax = axes[0, col]
    for kind, key, marker in (("softmax", "softmax_entropy", "o"), ("eala", "entropy_target", "s")):
      layers = [r for r in records if r["dataset"] == dataset and r["kind"] == kind]
      ax.plot([r["layer"].split("/attention")[0] for r in layers], [r[key] for r in layers],
              marker=marker, label=f"{kind} model")
    ax.axhline(1.0, color="gray", linestyle=":", label="uniform")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{dataset}: attention entropy / log L")
    ax.tick_params(axis="x", rotation=45)
    ax.legend()
    ax = axes[1, col]
    sweep = [r for r in sweep_records if r["dataset"] == dataset]
    ax.errorbar([r["theta_scale"] for r in sweep], [r["mae_mean"] for r in sweep],
                yerr=[r["mae_std"] for r in sweep], marker="o", capsize=4)
    ax.set_xlabel("θ scale (0 = uniform, 1 = entropy-matched)")
    ax.set_ylabel("test MAE")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


if __name__ == "__main__":
  main()
