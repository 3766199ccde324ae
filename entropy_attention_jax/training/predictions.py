"""Forecast tables: the future after a table's last row, or a split's windows with the truth.

Both write one long table (CSV or Parquet, by the file's suffix) with a row
per forecast value::

    timestamp, node, horizon, forecast[, target]

`timestamp` is the forecast step's time in the input's time zone and format
(date only for daily and coarser data), `horizon` the steps ahead (1-based),
`target` the observed value (empty where missing). A plot of a few nodes
(recent history, forecast, and on a split the truth) goes with `plot_forecast`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from entropy_attention_jax import data as data_lib
from entropy_attention_jax._optional import require
from entropy_attention_jax.training.sharding import pad_batch, shard_batch

TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")


def _frame(run: Any, target_steps: np.ndarray, forecasts: np.ndarray,
           targets: np.ndarray | None, grid: Any) -> Any:
  """Long table of `[windows, out_steps, nodes]` forecasts (and targets)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top

  windows, out_steps, nodes = forecasts.shape
  node_ids = np.asarray(run.data.info.node_ids, dtype=object)
  stamps = np.asarray(grid.format(target_steps.reshape(-1)), dtype=object).reshape(windows, out_steps)
  columns = {
      "timestamp": np.repeat(stamps.reshape(-1), nodes),
      "node": np.tile(node_ids, windows * out_steps),
      "horizon": np.repeat(np.tile(np.arange(1, out_steps + 1), windows), nodes),
      "forecast": forecasts.reshape(-1),
  }
  if targets is not None:
    targets = targets.astype(np.float64)
    missing_value = run.data.info.missing_value
    if missing_value is not None:
      targets = np.where(targets == missing_value, np.nan, targets)
    columns["target"] = targets.reshape(-1)
  return pd.DataFrame(columns)


def write_table(frame: Any, path: str | pathlib.Path) -> pathlib.Path:
  """Writes a table as CSV or Parquet by the suffix of `path`; returns the path.

  Raises:
    ValueError: another suffix.
  """
  path = pathlib.Path(path)
  if path.suffix not in TABLE_SUFFIXES:
    raise ValueError(f"{path}: the output must end in one of {list(TABLE_SUFFIXES)} (or .npz).")
  path.parent.mkdir(parents=True, exist_ok=True)
  if path.suffix == ".csv":
    frame.to_csv(path, index=False)
  else:
    require("pyarrow", "data", "to write Parquet tables")
    frame.to_parquet(path, index=False)
  return path


def predict_batches(run: Any, variables: dict[str, Any], batches) -> np.ndarray:
  """`[windows, out_steps, nodes]` forecasts of NumPy batches, original scale."""
  predict_step = run.jitted_eval_step(split_output=True)
  outputs = []
  for batch in batches:
    rows = len(batch["x"])
    sharded = shard_batch(pad_batch(batch, run.eval_rows), run.mesh)
    output = predict_step(variables["params"], variables["fixed"], sharded)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top

      output = multihost_utils.process_allgather(output, tiled=True)
    outputs.append(np.asarray(output)[:rows, ..., 0])
  return np.concatenate(outputs).astype(np.float32)


def split_table(run: Any, variables: dict[str, Any], split: str) -> Any:
  """The forecasts of every window of a split, with their targets (a DataFrame)."""
  window_split = run.data.splits[split]
  batch_size = run.config.train.resolved_eval_batch_size
  forecasts = predict_batches(run, variables, window_split.batches(batch_size))
  targets = np.concatenate([b["y"][..., 0] for b in window_split.batches(batch_size)])
  target_steps = window_split.starts[:, None] + run.data.in_steps + np.arange(run.data.out_steps)
  return _frame(run, target_steps, forecasts, targets, run.data.info.grid)


def future_table(run: Any, variables: dict[str, Any], series: data_lib.Series | None = None) -> Any:
  """The `out_steps` forecasts after the last observed row (a DataFrame).

  Args:
    run: the opened run.
    variables: the checkpoint's `{"params", "fixed"}`.
    series: a newer series with the same columns; default: the training data.
  """
  batch, target_steps = run.data.latest_window(series)
  forecasts = predict_batches(run, variables, [batch])
  grid = (series or run.data.series).info.grid
  return _frame(run, target_steps[None], forecasts, None, grid)


def plot_forecast(
    run: Any,
    frame: Any,
    path: str | pathlib.Path,
    *,
    nodes: Sequence[str] = (),
    series: data_lib.Series | None = None,
    first_forecast_step: int | None = None,
    history_steps: int | None = None,
) -> pathlib.Path:
  """Draws, per node, the recent history, the forecast and (on a split) the truth.

  On a split the last window is drawn. Needs matplotlib (the `plots` extra).

  Args:
    run: the opened run.
    frame: a table of `future_table` or `split_table`.
    path: the PNG (or any format matplotlib writes) to write.
    nodes: node ids to draw (default: the first four).
    series: the series the forecast continues (default: the training data's).
    first_forecast_step: the series step of the first forecast drawn
      (default: the one after the last observed step).
    history_steps: history drawn before the forecast (default: 3 × out_steps,
      at least in_steps).

  Raises:
    ValueError: an unknown node id.
    ImportError: matplotlib is missing.
  """
  try:
    import matplotlib  # pylint: disable=g-import-not-at-top

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        "plotting needs matplotlib: pip install 'entropy_attention_jax[plots]'"
    ) from e
  series = run.data.series if series is None else series
  info = series.info
  node_ids = list(nodes) or list(info.node_ids[:4])
  unknown = [n for n in node_ids if n not in info.node_ids]
  if unknown:
    raise ValueError(f"--plot-nodes: unknown node(s) {unknown}; nodes are {list(info.node_ids[:10])}...")
  out_steps = run.data.out_steps
  history_steps = history_steps or max(3 * out_steps, run.data.in_steps)
  has_truth = "target" in frame.columns
  # Rows run window by window, then horizon, then node: the last window's last.
  shown = frame.tail(out_steps * info.num_nodes)
  first_forecast = info.observed_steps if first_forecast_step is None else first_forecast_step
  history = np.arange(max(0, first_forecast - history_steps), first_forecast)
  history_times = info.grid.local_times(history)
  figure, axes = plt.subplots(len(node_ids), 1, figsize=(9, 2.4 * len(node_ids)), squeeze=False)
  for axis, node in zip(axes[:, 0], node_ids):
    column = info.node_ids.index(node)
    axis.plot(history_times, series.values[history, column, 0], color="0.3", label="history")
    rows = shown[shown["node"] == node]
    times = info.grid.local_times(first_forecast + np.arange(len(rows)))
    axis.plot(times, rows["forecast"], color="C0", marker=".", label="forecast")
    if has_truth:
      axis.plot(times, rows["target"], color="C1", marker=".", label="truth")
    axis.set_title(str(node), fontsize=9, loc="left")
    axis.tick_params(labelsize=8)
  axes[0, 0].legend(fontsize=8, loc="upper left")
  figure.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(path, dpi=110)
  plt.close(figure)
  return path
