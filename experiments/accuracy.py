"""Forecasting accuracy of ELinFormer per attention kind, mean ± std over seeds.

Every kind (softmax, eala, taylor = θ ≡ 1, linear = elu+1, performer) is used
on both axes (temporal and spatial), with the same data, seeds, model size and
training budget. Prints MAE / RMSE / MAPE per horizon (3, 6, 12 and average)
as mean ± std over seeds, EALA's gap to softmax and to linear, and draws a bar
chart of the average MAE.

  python experiments/accuracy.py                 # synthetic_traffic + chicago_ridership, 3 seeds
  python experiments/accuracy.py --quick         # tiny model, 1 epoch, 2 seeds (CI-sized)
  # The same comparison on a benchmark you have (STAEformer's full model and settings):
  python experiments/accuracy.py --datasets pems08 --manual-dir ~/data --preset none --epochs 300

Runs are cached under `--runs` (see `_runs.py`), so an interrupted run resumes;
`--cached-only` tabulates the finished runs without training (the `seeds` column
says how many each row has).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import _bench_utils as bu
import _runs

KINDS = ("softmax", "eala", "taylor", "linear", "performer")
DATASETS = ("synthetic_traffic", "chicago_ridership")


def run(datasets, kinds, seeds, *, overlays, overrides, root, cached_only=False):
  """`{(dataset, kind): [test metrics per seed]}`; `cached_only` skips runs not yet finished."""
  results = {}
  for dataset in datasets:
    for kind in kinds:
      kind_overrides = {
          **overrides, "model.spatial_attention": kind, "model.temporal_attention": kind,
      }
      if cached_only:
        runs = [_runs.cached_metrics(root, dataset, kind, seed) for seed in seeds]
        runs = [r for r in runs if r is not None]
      else:
        runs = [_runs.train_cached(dataset, kind, seed, root=root, overlays=overlays,
                                   overrides=kind_overrides)
                for seed in seeds]
      if runs:
        results[dataset, kind] = runs
  return results


def tables(results):
  rows, records = [], []
  for (dataset, kind), runs in results.items():
    summary = _runs.metric_rows(runs)
    for horizon, metrics in summary.items():
      rows.append([dataset, kind, len(runs), horizon]
                  + [_runs.format_mean_std(*metrics[m]) for m in _runs.METRICS])
      records.append(dict(dataset=dataset, kind=kind, horizon=horizon, seeds=len(runs),
                          **{f"{m}_mean": metrics[m][0] for m in _runs.METRICS},
                          **{f"{m}_std": metrics[m][1] for m in _runs.METRICS}))
  table = bu.markdown_table(
      ["dataset", "attention", "seeds", "horizon", "MAE", "RMSE", "MAPE (%)"], rows)
  return table, records


def verdicts(results):
  lines = []
  for dataset in sorted({d for d, _ in results}):
    mae = {kind: _runs.mean_std([r["mae"] for r in runs])[0]
           for (d, kind), runs in results.items() if d == dataset}
    if "eala" in mae and "softmax" in mae:
      gap = 100 * (mae["eala"] - mae["softmax"]) / mae["softmax"]
      lines.append(f"{dataset}: EALA mean test MAE {mae['eala']:.3f} vs softmax {mae['softmax']:.3f}"
                   f" ({gap:+.1f} %; target within 3 %: {'met' if gap <= 3 else 'not met'})")
    if "eala" in mae and "linear" in mae:
      better = mae["eala"] < mae["linear"]
      lines.append(f"{dataset}: EALA {mae['eala']:.3f} vs elu+1 linear {mae['linear']:.3f}"
                   f" ({'better' if better else 'not better'})")
  return lines


def plot(results, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  datasets = sorted({d for d, _ in results})
  fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.5), squeeze=False)
  for ax, dataset in zip(axes[0], datasets):
    kinds = [k for d, k in results if d == dataset]
    stats = [_runs.mean_std([r["mae"] for r in results[dataset, k]]) for k in kinds]
    ax.bar(kinds, [m for m, _ in stats], yerr=[s for _, s in stats], capsize=4,
           color=["tab:red" if k == "eala" else "tab:gray" for k in kinds])
    ax.set_title(dataset)
    ax.set_ylabel("test MAE (mean ± std over seeds)")
    low = min(m - s for m, s in stats)
    ax.set_ylim(bottom=max(0.0, low * 0.9))
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def parse_overrides(pairs):
  overrides = {}
  for pair in pairs:
    key, _, value = pair.partition("=")
    overrides[key] = value
  return overrides


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="tiny model, 1 epoch, 2 seeds")
  parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
  parser.add_argument("--kinds", nargs="*", default=list(KINDS))
  parser.add_argument("--seeds", type=int, nargs="*", default=None)
  parser.add_argument("--epochs", type=int, default=None)
  parser.add_argument("--preset", default=None, help="config overlay: small (default), tiny or none")
  parser.add_argument("--data-dir", default=None, help="where datasets are built")
  parser.add_argument("--manual-dir", default=None, help="benchmark files (PEMS0x, METR-LA, ...)")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="extra config override (repeatable)")
  parser.add_argument("--runs", default=_runs.DEFAULT_ROOT, help="where runs are cached")
  parser.add_argument("--out", default="results/accuracy")
  parser.add_argument("--cached-only", action="store_true",
                      help="tabulate the finished runs only; train nothing")
  args = parser.parse_args(argv)

  seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
  preset = args.preset or ("tiny" if args.quick else "small")
  overlays = [] if preset == "none" else [preset]
  overrides = parse_overrides(args.overrides)
  overrides["train.epochs"] = args.epochs or (1 if args.quick else 8)
  for key, value in (("data.data_dir", args.data_dir), ("data.manual_dir", args.manual_dir)):
    if value:
      overrides[key] = value
  root = pathlib.Path(args.runs) / ("quick" if args.quick else "full")

  print(f"# Forecasting accuracy per attention kind — {bu.machine_description()}")
  print(f"preset {preset}, {overrides['train.epochs']} epochs, seeds {seeds}; runs in {root}\n", flush=True)
  results = run(args.datasets, args.kinds, seeds, overlays=overlays, overrides=overrides, root=root,
                cached_only=args.cached_only)
  if not results:
    raise SystemExit(f"no finished runs under {root}")
  table, records = tables(results)
  lines = verdicts(results)
  print(table + "\n\n" + "\n".join(lines))
  bu.write_results(args.out, "accuracy", records, table + "\n\n" + "\n".join(lines))
  pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)
  plot(results, pathlib.Path(args.out) / "accuracy.png")
  (pathlib.Path(args.out) / "runs.json").write_text(json.dumps(
      {f"{d}/{k}": r for (d, k), r in results.items()}, indent=1))
  print(f"\nwrote {args.out}/accuracy.md, accuracy.png")


if __name__ == "__main__":
  main()
