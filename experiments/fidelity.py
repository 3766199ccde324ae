"""How accurate are the linear-time entropy estimates, on Gaussian and on trained attention?

(a) Mean absolute error (nats) of every estimator against the exact softmax
entropy versus the score scale, Gaussian queries and keys (head dim 32), at
several lengths (the same measurement as `bench_entropy.py`, drawn as a plot).

(b) The same errors on the queries and keys that trained ELinFormers actually
produce: every attention layer of the softmax and the EALA model of
`accuracy.py` (seed 0), on test windows. Its score spread σ² is reported
relative to log L, the regime boundary of the estimators.

  python experiments/fidelity.py
  python experiments/fidelity.py --quick
"""

from __future__ import annotations

import argparse
import pathlib

import jax.numpy as jnp
import numpy as np
from flax import nnx

import _bench_utils as bu
import _runs
import bench_entropy
from accuracy import DATASETS, parse_overrides
from entropy_attention_jax.entropy import ESTIMATORS, approx_entropy, softmax_entropy


def projected_queries_keys(workdir, *, batches: int = 2):
  """`{layer: (query, key)}` of every attention layer over the first test batches."""
  model, data = _runs.load_model(workdir)
  model.eval()
  collected: dict[str, dict[str, list]] = {}
  for x in _runs.test_inputs(data, batches):
    _, outputs = nnx.capture(model, nnx.Intermediate, method_outputs=nnx.Intermediate)(x)
    for path, variable in nnx.to_flat_state(outputs):
      if len(path) >= 2 and path[-2] in ("query", "key") and "attention" in path:
        layer = "/".join(str(p) for p in path[:-2])
        collected.setdefault(layer, {}).setdefault(path[-2], []).extend(variable.get_value())
  order = lambda layer: (not layer.startswith("temporal"), layer)
  return {
      layer: (jnp.concatenate(v["query"]), jnp.concatenate(v["key"]))
      for layer, v in sorted(collected.items(), key=lambda item: order(item[0]))
  }


def trained_errors(datasets, seed, *, root, overlays, overrides):
  rows, records = [], []
  for dataset in datasets:
    for kind in ("softmax", "eala"):
      kind_overrides = {**overrides, "model.spatial_attention": kind, "model.temporal_attention": kind}
      _runs.train_cached(dataset, kind, seed, root=root, overlays=overlays, overrides=kind_overrides)
      for layer, (query, key) in projected_queries_keys(_runs.run_dir(root, dataset, kind, seed)).items():
        length = key.shape[-3]
        exact = softmax_entropy(query, key)
        centred = key - key.mean(-3, keepdims=True)
        scores = jnp.einsum("...qhd,...khd->...qhk", query, centred) / np.sqrt(query.shape[-1])
        variance = float(jnp.mean(jnp.mean(scores**2, -1)))
        record = dict(dataset=dataset, model=kind, layer=layer, length=length,
                      variance_over_log_length=variance / np.log(length),
                      exact_over_log_length=float(exact.mean()) / np.log(length))
        for name in sorted(ESTIMATORS):
          record[name] = float(jnp.mean(jnp.abs(approx_entropy(query, key, estimator=name) - exact)))
        records.append(record)
        rows.append([dataset, kind, layer, length, f"{record['variance_over_log_length']:.2f}",
                     f"{record['exact_over_log_length']:.3f}"]
                    + [f"{record[n]:.4f}" for n in sorted(ESTIMATORS)])
  headers = ["dataset", "model", "layer", "L", "mean σ² / log L", "exact H / log L"] + [
      f"{n} error" for n in sorted(ESTIMATORS)]
  return bu.markdown_table(headers, rows), records


def plot(gaussian_records, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  lengths = sorted({r["length"] for r in gaussian_records})
  fig, axes = plt.subplots(1, len(lengths), figsize=(4.5 * len(lengths), 3.5), squeeze=False)
  for ax, length in zip(axes[0], lengths):
    cells = [r for r in gaussian_records if r["length"] == length]
    for name in sorted(ESTIMATORS):
      ax.semilogy([r["scale"] for r in cells], [max(r[f"{name}_mean"], 1e-5) for r in cells],
                  marker="o", label=name)
    boundary = [r["scale"] for r in cells if r["peaked"]]
    if boundary:
      ax.axvspan(min(boundary), max(r["scale"] for r in cells), color="gray", alpha=0.15,
                 label="σ² > log L")
    ax.set_title(f"L = {length}")
    ax.set_xlabel("score scale (≈ σ)")
    ax.set_ylabel("mean |Ĥ − H| (nats)")
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--epochs", type=int, default=None)
  parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
  parser.add_argument("--runs", default=_runs.DEFAULT_ROOT)
  parser.add_argument("--out", default="results/fidelity")
  args = parser.parse_args(argv)
  print(f"# Entropy estimator fidelity — {bu.machine_description()}\n", flush=True)

  lengths = (128,) if args.quick else (128, 1024, 8192)
  scales = bench_entropy.SCALES[::3] if args.quick else bench_entropy.SCALES
  gaussian = bench_entropy.measure(lengths, scales, queries=64 if args.quick else 256, heads=4,
                                   head_dim=32, seed=0)
  gaussian_table = bench_entropy.table(gaussian)
  print("## Gaussian queries and keys\n\n" + gaussian_table + "\n", flush=True)

  overrides = parse_overrides(args.overrides)
  overrides["train.epochs"] = args.epochs or (1 if args.quick else 8)
  root = pathlib.Path(args.runs) / ("quick" if args.quick else "full")
  trained_table, trained = trained_errors(
      args.datasets, args.seed, root=root, overlays=["tiny" if args.quick else "small"],
      overrides=overrides,
  )
  print("## Queries and keys of trained ELinFormers (test windows)\n\n" + trained_table)

  bu.write_results(args.out, "fidelity_gaussian", gaussian, gaussian_table)
  bu.write_results(args.out, "fidelity_trained", trained, trained_table)
  plot(gaussian, pathlib.Path(args.out) / "fidelity.png")
  print(f"\nwrote {args.out}/fidelity_gaussian.md, fidelity_trained.md, fidelity.png")


if __name__ == "__main__":
  main()
