"""Naive forecasts on the model's own test windows: is there any skill?

Three references, computed from the series itself on exactly the windows and
the mask the model is scored on (`metrics.error_sums`):

- ``last_value``: every step ahead repeats the last observed input value;
- ``seasonal_naive``: step `t + h` repeats step `t + h - P·ceil(h / P)`, the
  same point of the last observed cycle (`P` from the frequency: a day for
  sub-daily data, a week for daily, a year for weekly, monthly, quarterly);
- ``window_mean``: the mean of the observed inputs of the window.

Missing values in the history are carried forward (as the model's inputs
are). The skill score of a model is `1 - MAE_model / MAE_best_baseline`:
positive when it beats every naive forecast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from entropy_attention_jax import data as data_lib
from entropy_attention_jax.training import metrics as metrics_lib

BASELINES: tuple[str, ...] = ("last_value", "seasonal_naive", "window_mean")


def naive_forecast(
    series: np.ndarray, starts: np.ndarray, in_steps: int, out_steps: int, kind: str, period: int
) -> np.ndarray:
  """Forecasts of one naive method for windows starting at `starts`.

  Args:
    series: `[steps, nodes]` target with no missing value (carried forward).
    starts: `[windows]` first input step of each window.
    in_steps: input steps per window.
    out_steps: steps forecast per window.
    kind: one of :data:`BASELINES`.
    period: the seasonal period in steps (``seasonal_naive``).

  Returns:
    `[windows, out_steps, nodes, 1]` float32.

  Raises:
    ValueError: unknown `kind`.
  """
  origin = starts + in_steps  # First forecast step.
  ahead = np.arange(out_steps)
  if kind == "last_value":
    forecast = np.broadcast_to(series[origin - 1][:, None], (len(starts), out_steps, series.shape[1]))
  elif kind == "seasonal_naive":
    back = period * np.ceil((ahead + 1) / period).astype(np.int64)
    steps = origin[:, None] + ahead - back
    forecast = series[np.maximum(steps, 0)]
  elif kind == "window_mean":
    window = series[starts[:, None] + np.arange(in_steps)]
    forecast = np.broadcast_to(window.mean(axis=1)[:, None], (len(starts), out_steps, series.shape[1]))
  else:
    raise ValueError(f"naive_forecast: kind must be one of {list(BASELINES)}, got {kind!r}.")
  return np.asarray(forecast, np.float32)[..., None]


def evaluate_baselines(
    data: data_lib.ForecastingData,
    split: data_lib.WindowSplit,
    *,
    batch_size: int = 256,
    summarize: Callable[[metrics_lib.ErrorSums], dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
  """Metrics of every naive forecast on `split` (same windows and mask as the model).

  Args:
    data: the forecasting data (series, scaler, missing-value convention).
    split: the windows to score.
    batch_size: windows per chunk.
    summarize: turns the summed errors into metrics (default
      `metrics.summarize`); pass the model's to get the same fields.

  Returns:
    `{kind: metrics}` for each of :data:`BASELINES`, plus `"period"` in each.
  """
  summarize = metrics_lib.summarize if summarize is None else summarize
  series = data.filled_target()
  period = data.seasonal_period
  totals: dict[str, metrics_lib.ErrorSums | None] = dict.fromkeys(BASELINES)
  missing_value = data.info.missing_value
  for begin in range(0, len(split), batch_size):
    positions = np.arange(begin, min(begin + batch_size, len(split)))
    targets = split.get_batch(positions)["y"]
    valid = np.ones(len(positions), bool)
    for kind in BASELINES:
      forecast = naive_forecast(
          series, split.starts[positions], data.in_steps, data.out_steps, kind, period
      )
      sums = metrics_lib.error_sums(forecast, targets, valid, missing_value)
      totals[kind] = metrics_lib.add_sums(totals[kind], sums)
  return {kind: {**summarize(total), "period": period} for kind, total in totals.items()}


def skill(model_mae: float | None, baselines: dict[str, dict[str, Any]]) -> dict[str, Any]:
  """`{"best_baseline", "best_baseline_mae", "skill"}`: `1 - MAE_model / MAE_best`."""
  maes = {k: v["mae"] for k, v in baselines.items() if v.get("mae") is not None}
  if not maes or model_mae is None:
    return {"best_baseline": None, "best_baseline_mae": None, "skill": None}
  best = min(maes, key=maes.get)
  score = 1.0 - model_mae / maes[best] if maes[best] > 0 else None
  return {"best_baseline": best, "best_baseline_mae": maes[best], "skill": score}
