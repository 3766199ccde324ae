"""Classical baselines on exactly the library's test windows: AutoETS and naive forecasts.

Both functions take a wide table (one timestamp column, one numeric column per
series, NaN = missing) and score forecasts on the test windows of
`entropy_attention_jax.data.windows.split_windows`: a test window starting at
`s` has inputs `[s, s + in_steps)` and targets `[s + in_steps, s + in_steps +
out_steps)`, forecast from the origin `s + in_steps - 1`.

Scoring (the same in both, so their numbers can be compared entry by entry):
an entry (window, horizon, series) is scored when its target is observed
(not NaN; zeros are real values and are scored) and the window's input
`[s, s + in_steps)` holds at least one observed value of that series. MAE
and RMSE pool all scored entries of all series (on each series' own scale);
MAPE (%) pools the scored entries whose target is non-zero. The same metrics
are given per horizon `1..out_steps` and per series; `mean_series_mae`
averages the per-series MAE, and `scaled_mae` pools `|error| / std`, with
`std` each series' standard deviation over its observed training steps
`[0, b1)` (over `[0, b2)` for a series with < 2 training observations): a
unit-free MAE for tables that mix units.

`autoets_metrics` fits `statsforecast.models.AutoETS(season_length=...)` once
per series on the training period `[0, b1)` (`b1`, `b2` from
`split_boundaries`) and forecasts from every test origin without refitting,
with the fitted model's `forward(y, h)`: the smoothing parameters and initial
states of the fit, filtered over the series' history up to the origin. This is
what statsforecast's `StatsForecast.cross_validation(..., refit=False)` does
(it calls `fit` once, then `forward` per window), except that the fit uses the
training period and not all the history before the first test window; a test
checks they agree when the two coincide. Unlike the window models, ETS sees
the series' whole history up to the origin, not only the `in_steps` inputs.

Missing values (ETS takes no NaN): the history is imputed causally. Steps
before the series' first observation are dropped (the series starts there);
a gap that is closed before the origin is filled by linear interpolation
between its two neighbours; a gap still open at the origin is filled with
the last observed value (forward fill). Imputation never looks past the
origin. A series with fewer than `min_fit_steps` (default `2 * season_length`)
observed steps in `[0, b1)` is fitted on `[0, b2)` instead (still before every
test target; listed in `fit_on_val`), and one with fewer than 3 observed steps
there is not forecast (`skipped`; its entries are not scored).

Cost: one AutoETS fit per series (model selection, the bulk of the time)
plus one `forward` per test origin (linear in the history, ~0.4 ms for 4,500
daily steps). Measured on 2 shared CPU cores, statsforecast 2.1.1:
us_employment (148 monthly series, 183 windows) ~40 s, the synthetic table
(9 hourly series, 414 windows) ~15-25 s, Chicago (20 daily series, 1,134
windows) ~80-95 s.

Caveat: on hourly data with `season_length=24`, AutoETS's one-step
likelihood picks non-seasonal models (ETS(A,N,N) with alpha ~1, i.e. "repeat
the last value") for most series; `model="ZZA"` forces an additive season.

Run alone it prints the measured numbers for the three tables of the
real-data experiment::

    python experiments/_autoets.py [--tables us_employment synthetic chicago] [--json F]

Needs the optional `statsforecast` package (`pip install -e '.[baselines]'`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from entropy_attention_jax.data.windows import split_windows


def _regular_values(
    frame: pd.DataFrame, timestamp_column: str, target_columns: Sequence[str], freq: str
) -> np.ndarray:
  """`[steps, series]` float64 targets after checking the timestamps step by `freq`."""
  times = pd.DatetimeIndex(pd.to_datetime(frame[timestamp_column]))
  expected = pd.date_range(times[0], periods=len(times), freq=freq)
  if not np.array_equal(times.to_numpy(), expected.to_numpy()):
    bad = int(np.flatnonzero(times.to_numpy() != expected.to_numpy())[0])
    raise ValueError(
        f"{timestamp_column!r} is not a regular {freq!r} range: row {bad} is"
        f" {times[bad]}, expected {expected[bad]}."
    )
  missing = [c for c in target_columns if c not in frame.columns]
  if missing:
    raise ValueError(f"The frame lacks the target columns {missing}.")
  return frame[list(target_columns)].to_numpy(np.float64)


def _test_windows(num_steps, in_steps, out_steps, split_ratios):
  """Test starts `[W]`, target steps `[W, out_steps]` and boundaries `(b1, b2)`."""
  windows = split_windows(num_steps, in_steps, out_steps, split_ratios)
  starts = windows.test
  targets = starts[:, None] + in_steps + np.arange(out_steps)[None, :]
  return starts, targets, windows.boundaries


def _scored_mask(values: np.ndarray, starts, targets, in_steps) -> np.ndarray:
  """`[W, out_steps, series]`: target observed and >= 1 observed input."""
  observed = ~np.isnan(values)
  counts = np.concatenate([np.zeros((1, values.shape[1]), np.int64), np.cumsum(observed, 0)])
  inputs_seen = (counts[starts + in_steps] - counts[starts]) > 0  # [W, series]
  return observed[targets] & inputs_seen[:, None, :]


def _train_scale(values: np.ndarray, b1: int, b2: int) -> np.ndarray:
  """`[series]` std of each series' observed steps in `[0, b1)`, else in `[0, b2)`, else 1.

  A series with fewer than 2 observed training steps (it starts late) gets the
  std of its observed steps before the test period; 1 if that fails too.
  """

  def std(part):
    with np.errstate(invalid="ignore", divide="ignore"):
      count = (~np.isnan(part)).sum(0)
      mean = np.nansum(part, 0) / np.maximum(count, 1)
      value = np.sqrt(np.nansum((part - mean) ** 2, 0) / np.maximum(count, 1))
    return np.where((count > 1) & (value > 0), value, np.nan)

  scale = std(values[:b1])
  scale = np.where(np.isnan(scale), std(values[:b2]), scale)
  return np.where(np.isnan(scale), 1.0, scale)


def _metrics(predictions, values, targets, mask, columns, seconds, extra, scale) -> dict:
  """MAE / RMSE / MAPE pooled over scored entries, per horizon and per series."""
  truth = values[targets]  # [W, out_steps, series]
  error = np.where(mask, predictions - truth, 0.0)
  if np.isnan(error).any():
    raise AssertionError("A scored entry has no forecast.")
  nonzero = mask & (truth != 0)
  ape = np.where(nonzero, np.abs(error) / np.where(nonzero, np.abs(truth), 1.0), 0.0)

  def pooled(axis):
    count = mask.sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
      return {
          "mae": np.abs(error).sum(axis) / count,
          "rmse": np.sqrt((error**2).sum(axis) / count),
          "mape": 100.0 * ape.sum(axis) / nonzero.sum(axis),
          "count": count,
      }

  total = pooled(None)
  by_horizon = pooled((0, 2))
  by_series = pooled((0, 1))
  scaled = np.abs(error) / scale
  return {
      "mae": float(total["mae"]),
      "rmse": float(total["rmse"]),
      "mape": float(total["mape"]),
      "scaled_mae": float(scaled.sum() / total["count"]),
      "mean_series_mae": float(np.nanmean(by_series["mae"])),
      "scored": int(total["count"]),
      "scored_nonzero": int(nonzero.sum()),
      "windows": int(targets.shape[0]),
      "horizon": {
          "mae": by_horizon["mae"].tolist(),
          "rmse": by_horizon["rmse"].tolist(),
          "mape": by_horizon["mape"].tolist(),
      },
      "series_mae": dict(zip(columns, by_series["mae"].tolist())),
      "series_rmse": dict(zip(columns, by_series["rmse"].tolist())),
      "series_mape": dict(zip(columns, by_series["mape"].tolist())),
      "seconds": float(seconds),
      **extra,
  }


def _causal_history(y: np.ndarray, interpolated: np.ndarray, first: int, origin: int):
  """`y[first : origin + 1]` with NaN imputed from steps `<= origin` only.

  `interpolated` is `y` linearly interpolated between observed steps; values
  after the last observed step `<= origin` are replaced by that step's value.
  Returns None when nothing in `[first, origin]` is observed.
  """
  history = interpolated[first:origin + 1].copy()
  observed = np.flatnonzero(~np.isnan(y[first:origin + 1]))
  if len(observed) == 0:
    return None
  last = observed[-1]
  history[last + 1:] = history[last]
  return history


def _interpolate(y: np.ndarray) -> np.ndarray:
  """`y` with interior NaN linearly interpolated (edges left as they are)."""
  return pd.Series(y).interpolate(method="linear", limit_area="inside").to_numpy()


def autoets_metrics(
    frame: pd.DataFrame,
    timestamp_column: str,
    target_columns: Sequence[str],
    *,
    season_length: int,
    in_steps: int,
    out_steps: int,
    split_ratios: Sequence[float],
    freq: str,
    min_fit_steps: int | None = None,
    model: str = "ZZZ",
    return_predictions: bool = False,
) -> dict:
  """AutoETS per series, fitted once on the training period, on every test window.

  Args:
    frame: the wide table: `timestamp_column` plus the target columns (NaN =
      missing); other columns (covariates) are ignored.
    timestamp_column: the time column; it must be a regular range of `freq`.
    target_columns: the series to forecast, in order.
    season_length: ETS season (e.g. 12 monthly, 24 hourly, 7 daily).
    in_steps: input steps of a window (only for the split and the scoring
      mask: ETS filters the whole history up to the origin).
    out_steps: forecast horizon.
    split_ratios: `(train, val, test)` fractions, as in `split_windows`.
    freq: pandas frequency of the rows (`"MS"`, `"h"`, `"D"`), checked.
    min_fit_steps: observed training steps needed to fit on `[0, b1)`;
      default `2 * season_length` (module docstring).
    model: the ETS model string for `AutoETS(model=...)` (default automatic).
    return_predictions: also return the `[W, out_steps, series]` forecasts
      and the scored mask under `"predictions"` and `"mask"`.

  Returns:
    `mae`, `rmse`, `mape` (%, non-zero targets), `scaled_mae`,
    `mean_series_mae`, `scored` (entries), `scored_nonzero`, `windows`,
    `horizon` (`mae`/`rmse`/`mape` lists of `out_steps`), `series_mae`,
    `series_rmse`, `series_mape` (column -> value), `seconds` (fit + forecasts, wall clock), `fit_seconds`,
    `models` (the selected ETS model of each series, e.g. `"MNA"` plus the
    damping flag), `fit_on_val`, `skipped`, `boundaries` and
    `statsforecast` (the version).
  """
  import statsforecast  # pylint: disable=g-import-not-at-top
  from statsforecast.models import AutoETS  # pylint: disable=g-import-not-at-top

  values = _regular_values(frame, timestamp_column, target_columns, freq)
  starts, targets, (b1, b2) = _test_windows(len(values), in_steps, out_steps, split_ratios)
  mask = _scored_mask(values, starts, targets, in_steps)
  min_fit_steps = 2 * season_length if min_fit_steps is None else min_fit_steps
  origins = starts + in_steps - 1
  predictions = np.full(mask.shape, np.nan)
  models, fit_on_val, skipped = {}, [], []
  fit_seconds = 0.0
  began = time.perf_counter()
  for j, column in enumerate(target_columns):
    y = values[:, j]
    observed = np.flatnonzero(~np.isnan(y))
    if len(observed) == 0:
      skipped.append(column)
      mask[:, :, j] = False
      continue
    first = int(observed[0])
    interpolated = _interpolate(y)
    fit_end = b1
    if np.count_nonzero(~np.isnan(y[:b1])) < min_fit_steps:
      fit_end = b2
      fit_on_val.append(column)
    if np.count_nonzero(~np.isnan(y[:fit_end])) < 3:
      skipped.append(column)
      mask[:, :, j] = False
      continue
    history = _causal_history(y, interpolated, first, fit_end - 1)
    tick = time.perf_counter()
    fitted = AutoETS(season_length=season_length, model=model).fit(history)
    fit_seconds += time.perf_counter() - tick
    models[column] = fitted.model_["components"]
    for w, origin in enumerate(origins):
      if not mask[w, :, j].any():
        continue
      history = _causal_history(y, interpolated, first, int(origin))
      predictions[w, :, j] = fitted.forward(y=history, h=out_steps)["mean"]
  seconds = time.perf_counter() - began
  extra = {
      "fit_seconds": fit_seconds,
      "models": models,
      "fit_on_val": fit_on_val,
      "skipped": skipped,
      "boundaries": [int(b1), int(b2)],
      "statsforecast": statsforecast.__version__,
  }
  if return_predictions:
    extra |= {"predictions": predictions, "mask": mask}
  scale = _train_scale(values, b1, b2)
  return _metrics(predictions, values, targets, mask, list(target_columns), seconds, extra, scale)


def naive_forecasts(
    values: np.ndarray, starts: np.ndarray, in_steps: int, out_steps: int, season_length: int
) -> dict[str, np.ndarray]:
  """The three naive forecasts from the input windows only, `[W, out_steps, series]`.

  - `last`: the last observed value of the input window, at every horizon.
  - `seasonal`: step `t` gets `y[t - k * season_length]` with the smallest
    `k` that lands inside the input window on an observed value (the usual
    seasonal naive `y[t - m * ceil(h / m)]` when nothing is missing); `last`
    where that phase is unobserved in the whole input window.
  - `mean`: the mean of the observed inputs.

  Windows without any observed input get NaN (they are never scored).
  """
  if in_steps < season_length:
    raise ValueError(f"seasonal naive needs in_steps >= season_length, got {in_steps} < {season_length}.")
  inputs = values[starts[:, None] + np.arange(in_steps)[None, :]]  # [W, in, series]
  observed = ~np.isnan(inputs)
  index = np.where(observed, np.arange(in_steps)[None, :, None], -1)
  last_index = index.max(1)  # [W, series]
  any_seen = last_index >= 0
  last = np.take_along_axis(inputs, np.maximum(last_index, 0)[:, None, :], 1)[:, 0, :]
  last = np.where(any_seen, last, np.nan)
  with np.errstate(invalid="ignore"):
    mean = np.where(any_seen, np.nansum(inputs, 1) / np.maximum(observed.sum(1), 1), np.nan)
  seasonal = np.full((len(starts), out_steps, values.shape[1]), np.nan)
  for h in range(out_steps):
    position = in_steps + h - season_length * int(np.ceil((h + 1) / season_length))
    filled = np.zeros_like(any_seen)
    while position >= 0:
      take = observed[:, position, :] & ~filled
      seasonal[:, h, :] = np.where(take, inputs[:, position, :], seasonal[:, h, :])
      filled |= take
      position -= season_length
    seasonal[:, h, :] = np.where(filled, seasonal[:, h, :], last)
  repeat = lambda x: np.repeat(x[:, None, :], out_steps, axis=1)
  return {"last": repeat(last), "seasonal": seasonal, "mean": repeat(mean)}


def naive_metrics(
    frame: pd.DataFrame,
    timestamp_column: str,
    target_columns: Sequence[str],
    *,
    season_length: int,
    in_steps: int,
    out_steps: int,
    split_ratios: Sequence[float],
    freq: str,
) -> dict[str, dict]:
  """Last value, seasonal naive and window mean on the test windows.

  Args: as `autoets_metrics` (the forecasts use only each window's inputs,
  see `naive_forecasts`).

  Returns:
    `{"last": metrics, "seasonal": metrics, "mean": metrics}`, each with the
    keys of `autoets_metrics`' metrics (`mae`, `rmse`, `mape`, `scored`,
    `horizon`, `series_mae`, `seconds`, ...), scored on the same entries.
  """
  values = _regular_values(frame, timestamp_column, target_columns, freq)
  starts, targets, boundaries = _test_windows(len(values), in_steps, out_steps, split_ratios)
  mask = _scored_mask(values, starts, targets, in_steps)
  began = time.perf_counter()
  forecasts = naive_forecasts(values, starts, in_steps, out_steps, season_length)
  seconds = time.perf_counter() - began
  extra = {"boundaries": [int(b) for b in boundaries]}
  scale = _train_scale(values, *boundaries)
  return {
      name: _metrics(p, values, targets, mask, list(target_columns), seconds, extra, scale)
      for name, p in forecasts.items()
  }


# The experiment's three tables and their window settings.
TABLES = {
    "us_employment": dict(season_length=12, in_steps=24, out_steps=12, split_ratios=(0.7, 0.1, 0.2), freq="MS"),
    "synthetic": dict(season_length=24, in_steps=48, out_steps=24, split_ratios=(0.7, 0.1, 0.2), freq="h"),
    "chicago": dict(season_length=7, in_steps=28, out_steps=7, split_ratios=(0.7, 0.1, 0.2), freq="D"),
}


def load_table(name: str) -> tuple[pd.DataFrame, str, list[str]]:
  """`(frame, timestamp_column, target_columns)` of one of `TABLES`."""
  import _real_tables  # pylint: disable=g-import-not-at-top

  from entropy_attention_jax.data import synthetic_table  # pylint: disable=g-import-not-at-top

  if name == "us_employment":
    frame, _ = _real_tables.us_employment_frame()
    return frame, "month", list(frame.columns[1:])
  if name == "synthetic":
    return synthetic_table.synthetic_wide_table(), "timestamp", list(synthetic_table.TARGET_COLUMNS)
  if name == "chicago":
    frame = _real_tables.chicago_frame()
    return frame, "date", list(frame.columns[1:])
  raise ValueError(f"Unknown table {name!r}; known: {sorted(TABLES)}.")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
  parser.add_argument("--json", help="also write all results to this JSON file")
  parser.add_argument("--ets-model", default="ZZZ", help="AutoETS model string (ZZA forces a season)")
  args = parser.parse_args()
  results = {}
  for name in args.tables:
    frame, timestamp_column, columns = load_table(name)
    settings = TABLES[name]
    row = {"naive": naive_metrics(frame, timestamp_column, columns, **settings)}
    row["autoets"] = autoets_metrics(frame, timestamp_column, columns, **settings, model=args.ets_model)
    results[name] = row
    ets = row["autoets"]
    print(
        f"{name}: {len(frame)} steps x {len(columns)} series, {ets['windows']} test windows,"
        f" {ets['scored']} scored entries; AutoETS {ets['seconds']:.1f} s"
        f" (fits {ets['fit_seconds']:.1f} s), fit_on_val={len(ets['fit_on_val'])},"
        f" skipped={len(ets['skipped'])}"
    )
    for method, m in [("autoets", ets), *row["naive"].items()]:
      print(
          f"  {method:9s} MAE {m['mae']:10.4g}  RMSE {m['rmse']:10.4g}  MAPE {m['mape']:7.3g} %"
          f"  scaled MAE {m['scaled_mae']:.4f}"
          f"  (scored {m['scored']})"
      )
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)


if __name__ == "__main__":
  main()
