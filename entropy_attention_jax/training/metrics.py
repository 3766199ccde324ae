"""Masked forecasting metrics: MAE, RMSE and MAPE per horizon and averaged.

As STAEformer (`lib/metrics.py`) and the traffic-forecasting literature: on
the original scale, missing targets left out (NaN, and the zeros of datasets
that mark missing readings with 0), MAPE in percent over the non-zero targets,
reported at horizons 3, 6 and 12 (steps ahead, 1-based) and averaged over all
predicted steps. Averages are over all valid entries, not a mean of
per-horizon values. Per-node metrics come with them, and with a per-node
scale `mae_scaled`: the MAE in units of each node's standard deviation,
averaged over entries, so a table mixing units is summed fairly.

Evaluation streams: a jitted step returns :class:`ErrorSums` per predicted
step for one batch (:func:`error_sums`), the host adds them up in float64
(:func:`add_sums`) and :func:`summarize` turns the totals into the JSON
written as ``W/test_metrics.json``::

  {"mae": ..., "rmse": ..., "mape": ..., "horizons": {"3": {...}, "6": {...}, "12": {...}},
   "nodes": {"<node id>": {"mae", "rmse", "mape"}, ...}}
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from entropy_attention_jax.training.losses import float32_pair
from entropy_attention_jax.typing import Array

HORIZONS: tuple[int, ...] = (3, 6, 12)
METRIC_NAMES: tuple[str, ...] = ("mae", "rmse", "mape")


class ErrorSums(NamedTuple):
  """Sums over valid entries, per predicted step and node; each `[out_steps, nodes]`.

  Attributes:
    absolute: sum of `|prediction - target|`.
    squared: sum of `(prediction - target)**2`.
    relative: sum of `|prediction - target| / |target|` over non-zero targets.
    count: number of valid entries.
    relative_count: number of valid entries with a non-zero target.
  """

  absolute: Any
  squared: Any
  relative: Any
  count: Any
  relative_count: Any


def error_sums(
    predictions: Array, targets: Array, valid: Array, missing_value: float | None = 0.0
) -> ErrorSums:
  """Per-step, per-node error sums of one batch, missing targets and padding left out.

  Args:
    predictions: `[batch, out_steps, nodes, channels]`, original scale.
    targets: same shape, original scale; NaN (and `missing_value`) are missing.
    valid: `[batch]` bool, False for padding rows.
    missing_value: the dataset's marker of missing readings besides NaN
      (0 in the traffic benchmarks); None: zeros are real values.

  Returns:
    `ErrorSums` of float32 `[out_steps, nodes]` arrays.

  Raises:
    ValueError: the shapes of `predictions` and `targets` differ.
  """
  predictions, targets = float32_pair(predictions, targets, "error_sums")
  mask = valid[:, None, None, None] & ~jnp.isnan(targets)
  if missing_value is not None:
    mask = mask & (targets != missing_value)
  targets = jnp.where(mask, targets, 0.0)
  error = jnp.where(mask, jnp.abs(predictions - targets), 0.0)
  relative_mask = mask & (targets != 0)
  axes = (0, 3)
  return ErrorSums(
      absolute=jnp.sum(error, axes),
      squared=jnp.sum(error * error, axes),
      relative=jnp.sum(
          jnp.where(relative_mask, error / jnp.where(relative_mask, jnp.abs(targets), 1.0), 0.0),
          axes,
      ),
      count=jnp.sum(mask, axes, dtype=jnp.float32),
      relative_count=jnp.sum(relative_mask, axes, dtype=jnp.float32),
  )


def add_sums(total: ErrorSums | None, batch: ErrorSums) -> ErrorSums:
  """`total + batch` in float64 on the host (`total` None starts a sum)."""
  batch = ErrorSums(*(np.asarray(x, np.float64) for x in batch))
  if total is None:
    return batch
  return ErrorSums(*(a + b for a, b in zip(total, batch)))


def _metrics(
    absolute: float, squared: float, relative: float, count: float, relative_count: float
) -> dict[str, float | None]:
  if count == 0:  # No valid target at all: nothing to report.
    return {name: None for name in METRIC_NAMES}
  return {
      "mae": float(absolute / count),
      "rmse": float(math.sqrt(squared / count)),
      "mape": float(100.0 * relative / relative_count) if relative_count else None,
  }


def summarize(
    sums: ErrorSums,
    horizons: tuple[int, ...] = HORIZONS,
    *,
    node_ids: tuple[str, ...] | None = None,
    node_scale: np.ndarray | None = None,
) -> dict[str, Any]:
  """Averaged, per-horizon and per-node metrics from accumulated sums.

  Args:
    sums: `ErrorSums` of `[out_steps, nodes]` totals (or `[out_steps]`).
    horizons: 1-based steps ahead to report; those beyond `out_steps` are
      omitted.
    node_ids: names of the nodes: adds `"nodes"`, per-node metrics.
    node_scale: `[nodes]` standard deviation of each node: adds
      `"mae_scaled"`, the MAE in those units (each node's errors divided by
      its scale), averaged over entries.

  Returns:
    ``{"mae", "rmse", "mape", "horizons": {"3": {"mae", "rmse", "mape"}, ...}}``
    (+ `"nodes"`, `"mae_scaled"`), MAPE in percent; a metric with no valid
    target is None.
  """
  sums = ErrorSums(*(np.asarray(x, np.float64).reshape(len(np.asarray(x)), -1) for x in sums))
  out_steps = sums.count.shape[0]
  result: dict[str, Any] = _metrics(*(float(np.sum(x)) for x in sums))
  result["horizons"] = {
      str(h): _metrics(*(float(np.sum(x[h - 1])) for x in sums))
      for h in horizons if 1 <= h <= out_steps
  }
  if node_scale is not None and np.sum(sums.count):
    scale = np.broadcast_to(np.asarray(node_scale, np.float64).reshape(-1), sums.count.shape[1:])
    result["mae_scaled"] = float(np.sum(sums.absolute.sum(0) / scale) / np.sum(sums.count))
  if node_ids is not None:
    per_node = [x.sum(0) for x in sums]
    result["nodes"] = {
        node: _metrics(*(float(x[i]) for x in per_node)) for i, node in enumerate(node_ids)
    }
  return result


def _cell(value: float | None) -> str:
  return "-" if value is None else f"{value:.3f}"


def format_table(metrics: dict[str, Any], title: str = "") -> str:
  """Markdown table of :func:`summarize` output: one row per horizon, then the average.

  With `"baselines"` (see `training.baselines`), their averages follow, then
  the skill score against the best of them.
  """
  lines = [title] if title else []
  lines += ["| horizon | MAE | RMSE | MAPE (%) |", "|---|---:|---:|---:|"]
  for horizon, values in metrics["horizons"].items():
    lines.append(f"| {horizon} | " + " | ".join(_cell(values[m]) for m in METRIC_NAMES) + " |")
  lines.append("| average | " + " | ".join(_cell(metrics[m]) for m in METRIC_NAMES) + " |")
  for name, values in metrics.get("baselines", {}).items():
    lines.append(
        f"| {name.replace('_', ' ')} (naive) | "
        + " | ".join(_cell(values.get(m)) for m in METRIC_NAMES) + " |"
    )
  if metrics.get("skill") is not None:
    lines.append(
        f"skill vs the best naive forecast ({metrics['best_baseline'].replace('_', ' ')}):"
        f" {100 * metrics['skill']:+.1f} % MAE"
    )
  return "\n".join(lines)


def non_finite(metrics: dict[str, Any]) -> list[str]:
  """Names of the NaN or infinite values in :func:`summarize` output (None is fine).

  Returns:
    E.g. ``["rmse", "horizon 12 rmse"]``; empty when every value is finite.
  """
  found = [name for name in METRIC_NAMES if _bad(metrics.get(name))]
  for horizon, values in metrics.get("horizons", {}).items():
    found += [f"horizon {horizon} {name}" for name in METRIC_NAMES if _bad(values.get(name))]
  return found


def _bad(value: float | None) -> bool:
  return value is not None and not math.isfinite(value)


def check_finite(metrics: dict[str, Any], what: str) -> None:
  """Raises when :func:`summarize` output holds a NaN or an infinity.

  Args:
    metrics: :func:`summarize` output.
    what: what they are, for the message ("the validation metrics at step 80").

  Raises:
    FloatingPointError: naming the values (an overflow in the forecasts or
      the data's scale, or a model that diverged).
  """
  bad = non_finite(metrics)
  if bad:
    names = ", ".join(bad[:4]) + (", ..." if len(bad) > 4 else "")
    raise FloatingPointError(
        f"{what} are not finite ({names}): the forecasts or"
        " the data overflow float32. Check the data's scale, lower optim.learning_rate or set"
        " optim.clip_grad_norm."
    )
