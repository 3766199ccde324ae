"""Masked forecasting metrics: MAE, RMSE and MAPE per horizon and averaged.

As STAEformer (`lib/metrics.py`) and the traffic-forecasting literature: on
the original scale, zero targets (missing readings) left out, MAPE in percent,
reported at horizons 3, 6 and 12 (steps ahead, 1-based) and averaged over all
predicted steps. Averages are over all valid entries, not a mean of
per-horizon values.

Evaluation streams: a jitted step returns :class:`ErrorSums` per predicted
step for one batch (:func:`error_sums`), the host adds them up in float64
(:func:`add_sums`) and :func:`summarize` turns the totals into the JSON
written as ``W/test_metrics.json``::

  {"mae": ..., "rmse": ..., "mape": ..., "horizons": {"3": {...}, "6": {...}, "12": {...}}}
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
  """Sums over valid entries, per predicted step; each `[out_steps]`.

  Attributes:
    absolute: sum of `|prediction - target|`.
    squared: sum of `(prediction - target)**2`.
    relative: sum of `|prediction - target| / |target|`.
    count: number of valid entries.
  """

  absolute: Any
  squared: Any
  relative: Any
  count: Any


def error_sums(predictions: Array, targets: Array, valid: Array) -> ErrorSums:
  """Per-step error sums of one batch, zero targets and padding left out.

  Args:
    predictions: `[batch, out_steps, nodes, channels]`, original scale.
    targets: same shape, original scale; zeros are missing readings.
    valid: `[batch]` bool, False for padding rows.

  Returns:
    `ErrorSums` of float32 `[out_steps]` arrays.

  Raises:
    ValueError: the shapes of `predictions` and `targets` differ.
  """
  predictions, targets = float32_pair(predictions, targets, "error_sums")
  mask = valid[:, None, None, None] & (targets != 0)
  error = jnp.where(mask, jnp.abs(predictions - targets), 0.0)
  axes = (0, 2, 3)
  return ErrorSums(
      absolute=jnp.sum(error, axes),
      squared=jnp.sum(error * error, axes),
      relative=jnp.sum(error / jnp.where(mask, jnp.abs(targets), 1.0), axes),
      count=jnp.sum(mask, axes, dtype=jnp.float32),
  )


def add_sums(total: ErrorSums | None, batch: ErrorSums) -> ErrorSums:
  """`total + batch` in float64 on the host (`total` None starts a sum)."""
  batch = ErrorSums(*(np.asarray(x, np.float64) for x in batch))
  if total is None:
    return batch
  return ErrorSums(*(a + b for a, b in zip(total, batch)))


def _metrics(
    absolute: float, squared: float, relative: float, count: float
) -> dict[str, float | None]:
  if count == 0:  # No valid target at all: nothing to report.
    return {name: None for name in METRIC_NAMES}
  return {
      "mae": float(absolute / count),
      "rmse": float(math.sqrt(squared / count)),
      "mape": float(100.0 * relative / count),
  }


def summarize(sums: ErrorSums, horizons: tuple[int, ...] = HORIZONS) -> dict[str, Any]:
  """Averaged and per-horizon metrics from accumulated sums.

  Args:
    sums: `ErrorSums` of `[out_steps]` totals.
    horizons: 1-based steps ahead to report; those beyond `out_steps` are
      omitted.

  Returns:
    `{"mae", "rmse", "mape", "horizons": {"3": {"mae", "rmse", "mape"}, ...}}`,
    MAPE in percent; a metric with no valid target is None.
  """
  out_steps = len(sums.count)
  result: dict[str, Any] = _metrics(*(float(np.sum(x)) for x in sums))
  result["horizons"] = {
      str(h): _metrics(*(float(x[h - 1]) for x in sums)) for h in horizons if 1 <= h <= out_steps
  }
  return result


def _cell(value: float | None) -> str:
  return "-" if value is None else f"{value:.3f}"


def format_table(metrics: dict[str, Any], title: str = "") -> str:
  """Markdown table of :func:`summarize` output: one row per horizon, then the average."""
  lines = [title] if title else []
  lines += ["| horizon | MAE | RMSE | MAPE (%) |", "|---|---:|---:|---:|"]
  for horizon, values in metrics["horizons"].items():
    lines.append(f"| {horizon} | " + " | ".join(_cell(values[m]) for m in METRIC_NAMES) + " |")
  lines.append("| average | " + " | ".join(_cell(metrics[m]) for m in METRIC_NAMES) + " |")
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
