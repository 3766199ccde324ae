"""Real multivariate tables through the wide-table path: ELinFormer against naive forecasts and AutoETS.

Three tables, each written as a wide CSV and trained exactly as a user would
(`train --dataset wide_table --file F.csv --preset small`, plus the table's
covariates):

- ``chicago``: daily entries of 20 Chicago "L" stations (2001-2016; the
  package's shipped copy; zeros = closed or unreported days, written as
  missing), with a known-future ``us_holiday`` flag (pandas' US federal
  holiday calendar), as a user would add one;
- ``us_employment``: fpp3's monthly US employment by industry (1939-2019,
  the series with at least 48 observed months before the validation period:
  late-starting series leave NaN at their start);
- ``synthetic``: `entropy_attention_jax.data.synthetic_table`, hourly, mixed
  units (MW, m³/h, %, hPa, m/s), real zeros, NaN gaps, an observed
  temperature and a known-future working-day flag with weekday holidays.

For each table and attention kind (softmax, eala, linear on both axes) it
trains `--seeds` runs (small preset, the table preset: per-series scaling,
forecasts relative to the last value; `--epochs`, `--max-minutes` per run),
then prints per dataset: each kind's test MAE / RMSE / MAPE (mean ± std over
seeds) and unit-free `mae_scaled`, the three naive baselines of
`training.baselines` on the same windows and mask, statsforecast's AutoETS
per series (fit once on the training period, forecast from every test
origin; needs the `baselines` extra), and the skill against the best naive
forecast. Runs are cached under `--out` (re-running reuses them).

    python experiments/real_data.py [--quick] [--datasets chicago us_employment synthetic]
        [--kinds softmax eala linear] [--seeds 0 1 2] [--out results/real_data]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

import jax
import numpy as np
import pandas as pd

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _autoets  # noqa: E402  pylint: disable=wrong-import-position
import _real_tables  # noqa: E402  pylint: disable=wrong-import-position
from _bench_utils import markdown_table, write_results  # noqa: E402  pylint: disable=wrong-import-position
from _runs import format_mean_std, mean_std  # noqa: E402  pylint: disable=wrong-import-position

from entropy_attention_jax import training  # noqa: E402  pylint: disable=wrong-import-position
from entropy_attention_jax.data import synthetic_table  # noqa: E402  pylint: disable=wrong-import-position

DATASETS = ("chicago", "us_employment", "synthetic")
# About 100 updates per epoch each: us_employment has few windows (but 148 series).
BATCH_SIZES = {"chicago": 32, "us_employment": 8, "synthetic": 16}
KINDS = ("softmax", "eala", "linear")
DEFAULT_OUT = "results/real_data"


def write_table(name: str, directory: pathlib.Path, quick: bool) -> tuple[pathlib.Path, dict[str, Any]]:
  """Writes dataset `name` as a wide CSV; returns its path and the builder options."""
  directory.mkdir(parents=True, exist_ok=True)
  path = directory / f"{name}{'_quick' if quick else ''}.csv"
  options: dict[str, Any] = {}
  if name == "chicago":
    from pandas.tseries.holiday import USFederalHolidayCalendar  # pylint: disable=import-outside-toplevel

    frame = _real_tables.chicago_frame(zeros_as_missing=True)
    dates = pd.to_datetime(frame.iloc[:, 0])
    holidays = USFederalHolidayCalendar().holidays(dates.min(), dates.max())
    frame["us_holiday"] = dates.isin(holidays).astype(int).to_numpy()
    options = {"known_future": "us_holiday"}
    if quick:
      frame = frame.iloc[-730:]
  elif name == "us_employment":
    frame, _ = _real_tables.us_employment_frame()
    # Keep the series with >= 48 observed months in the training period
    # (70 % of the months): the others have no scale to learn from.
    train_end = round(0.7 * len(frame))
    observed = frame.iloc[:train_end, 1:].notna().sum()
    frame = frame[[frame.columns[0], *observed[observed >= 48].index]]
    if quick:
      frame = frame.iloc[-360:, :9]
  elif name == "synthetic":
    frame = synthetic_table.synthetic_wide_table(days=35 if quick else 91, seed=0)
    options = {
        "covariates": ",".join(synthetic_table.OBSERVED_COVARIATES),
        "known_future": ",".join(synthetic_table.KNOWN_FUTURE_COVARIATES),
    }
  else:
    raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}.")
  if not path.exists():
    frame.to_csv(path, index=False)
  return path, options


def train_run(path: pathlib.Path, options: dict[str, Any], kind: str, seed: int, args) -> dict:
  """One cached training run; returns its test metrics (with baselines)."""
  workdir = pathlib.Path(args.out) / "runs" / path.stem / kind / f"seed{seed}"
  metrics_file = workdir / "test_metrics.json"
  if metrics_file.is_file():
    return json.loads(metrics_file.read_text())
  overrides = {
      "data.data_dir": str(pathlib.Path(args.out) / "tfds"),
      "data.builder_options.file": str(path.resolve()),
      **{f"data.builder_options.{k}": v for k, v in options.items()},
      "model.temporal_attention": kind, "model.spatial_attention": kind,
      "train.seed": seed, "train.epochs": args.epochs, "train.max_minutes": args.max_minutes,
      "train.batch_size": args.batch_size or BATCH_SIZES[path.stem.removesuffix("_quick")],
      **dict(args.overrides),
  }
  config = training.get_config("wide_table", overlays=[args.preset], overrides=overrides)
  start = time.time()
  result = training.train(config, workdir, show_progress=False, echo=lambda _: None)
  print(
      f"  {path.stem} {kind} seed {seed}: test MAE {result['mae']:.4g} (best naive"
      f" {result['best_baseline_mae']:.4g}, {result['best_baseline']}) in {time.time() - start:.0f} s",
      flush=True,
  )
  return result


def ets_metrics(path: pathlib.Path, run_metrics: dict, workdir: pathlib.Path, args) -> dict | None:
  """AutoETS on the run's test windows (None without statsforecast)."""
  cache = pathlib.Path(args.out) / "autoets" / f"{path.stem}.json"
  if cache.is_file():
    return json.loads(cache.read_text())
  try:
    import statsforecast  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    print("  (statsforecast not installed: pip install -e '.[baselines]' for AutoETS)")
    return None
  config = training.ExperimentConfig.from_dict(json.loads((workdir / "config.json").read_text()))
  run = training.open_run(workdir)
  frame = pd.read_csv(path)
  grid = run.data.info.grid
  freq = grid.frequency or f"{grid.step_seconds}s"
  metrics = _autoets.autoets_metrics(
      frame, frame.columns[0], list(run.data.info.node_ids),
      season_length=run.data.seasonal_period, in_steps=config.data.in_steps,
      out_steps=config.data.out_steps, split_ratios=run.data.split_ratios, freq=freq,
  )
  cache.parent.mkdir(parents=True, exist_ok=True)
  cache.write_text(json.dumps(metrics, default=float))
  del run_metrics
  return metrics


def summarize(name: str, path: pathlib.Path, results: dict[str, list[dict]], ets: dict | None) -> tuple[str, list[dict]]:
  """The dataset's Markdown table and its records."""
  rows, records = [], []
  first = next(iter(results.values()))[0]
  for kind, runs in results.items():
    cells = {m: mean_std([r[m] for r in runs if r.get(m) is not None]) for m in
             ("mae", "rmse", "mape", "mae_scaled")}
    skill = mean_std([r["skill"] for r in runs])
    rows.append([name, f"ELinFormer {kind}", len(runs), *(format_mean_std(*cells[m]) for m in
                ("mae", "rmse", "mape", "mae_scaled")), f"{100 * skill[0]:+.1f} %"])
    records.append({"dataset": name, "method": kind, "seeds": len(runs),
                    **{m: cells[m][0] for m in cells}, **{f"{m}_std": cells[m][1] for m in cells},
                    "skill": skill[0]})
  best_mae = first["best_baseline_mae"]
  for kind, values in first["baselines"].items():
    rows.append([name, f"{kind.replace('_', ' ')} (naive)", "-",
                 *(f"{values[m]:.3f}" if values.get(m) is not None else "-"
                   for m in ("mae", "rmse", "mape", "mae_scaled")), ""])
    records.append({"dataset": name, "method": kind, **{m: values.get(m) for m in
                    ("mae", "rmse", "mape", "mae_scaled")}})
  if ets is not None:
    skill = 1 - ets["mae"] / best_mae
    rows.append([name, "AutoETS (statsforecast)", "-", f"{ets['mae']:.3f}", f"{ets['rmse']:.3f}",
                 f"{ets['mape']:.3f}" if ets.get("mape") is not None else "-",
                 f"{ets['scaled_mae']:.3f}" if ets.get("scaled_mae") is not None else "-",
                 f"{100 * skill:+.1f} %"])
    records.append({"dataset": name, "method": "autoets", "mae": ets["mae"], "rmse": ets["rmse"],
                    "mape": ets.get("mape"), "mae_scaled": ets.get("scaled_mae"), "skill": skill,
                    "seconds": ets.get("seconds")})
  headers = ["dataset", "method", "seeds", "MAE", "RMSE", "MAPE (%)", "MAE / std", "skill vs best naive"]
  del path
  return markdown_table(headers, rows), records


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
  parser.add_argument("--kinds", nargs="+", default=list(KINDS))
  parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
  parser.add_argument("--epochs", type=int, default=30)
  parser.add_argument("--batch-size", type=int, default=None,
                      help=f"default per dataset: {BATCH_SIZES}")
  parser.add_argument("--set", dest="overrides", action="append", default=[], type=lambda t: t.split("=", 1),
                      metavar="KEY=VALUE", help="a config override for every run (repeatable)")
  parser.add_argument("--preset", default="tiny", help="model size overlay (training.SIZE_OVERLAYS)")
  parser.add_argument("--max-minutes", type=float, default=0.0,
                      help="per run (train.max_minutes; 0 = no limit: runs end by epochs or patience)")
  parser.add_argument("--out", default=DEFAULT_OUT)
  parser.add_argument("--no-ets", action="store_true", help="skip AutoETS")
  parser.add_argument("--quick", action="store_true",
                      help="short tables, 1 seed, 2 epochs (a smoke test, not a result)")
  args = parser.parse_args()
  # Seeds and kinds repeat the same programs: compile each once.
  jax.config.update("jax_compilation_cache_dir", str(pathlib.Path(args.out).absolute() / "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  if args.quick:
    args.seeds, args.epochs, args.max_minutes = args.seeds[:1], 2, 1.0
    if args.out == DEFAULT_OUT:  # A given --out gets everything, as in every experiment.
      args.out = args.out + "_quick"
  tables, all_records = [], []
  for name in args.datasets:
    path, options = write_table(name, pathlib.Path(args.out) / "tables", args.quick)
    print(f"{name}: {path}", flush=True)
    results = {kind: [train_run(path, options, kind, seed, args) for seed in args.seeds]
               for kind in args.kinds}
    workdir = pathlib.Path(args.out) / "runs" / path.stem / args.kinds[0] / f"seed{args.seeds[0]}"
    ets = None if args.no_ets or args.quick else ets_metrics(path, results, workdir, args)
    table, records = summarize(name, path, results, ets)
    print(table, flush=True)
    tables.append(table)
    all_records += records
    for kind in ("eala",):
      if kind in results and "softmax" in results:
        eala = np.mean([r["mae"] for r in results["eala"]])
        softmax = np.mean([r["mae"] for r in results["softmax"]])
        print(f"{name}: EALA MAE {eala:.4g} vs softmax {softmax:.4g} ({100 * (eala / softmax - 1):+.1f} %)")
  write_results(args.out, "real_data", all_records, "\n\n".join(tables))


if __name__ == "__main__":
  main()
