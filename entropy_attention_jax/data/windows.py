"""Chronological splits of one series into `in_steps -> out_steps` windows.

A window is an integer start index `s` into a series of `num_steps` steps: its
inputs are steps `[s, s + in_steps)` and its targets steps
`[s + in_steps, s + in_steps + out_steps)`. Windows are never copied; batches
gather them on demand (see `forecasting.py`).

Split rule. With boundaries `b1 = round(T * r_train)` and
`b2 = round(T * (r_train + r_val))`, the steps are cut into three periods
`[0, b1)`, `[b1, b2)` and `[b2, T)`, and a window belongs to the split whose
period holds *all of its target steps*:

- train: `s + in_steps + out_steps <= b1` (inputs and targets in the train period),
- val:   `s + in_steps >= b1` and `s + in_steps + out_steps <= b2`,
- test:  `s + in_steps >= b2` and `s + in_steps + out_steps <= T`.

So no target step of a training window lies in the validation or test period,
and every step is the target of windows from one split only. Validation and
test inputs may reach back into the previous period: that history is known at
forecasting time. The `out_steps - 1` windows whose targets straddle each
boundary belong to no split; every other window of the series is in exactly
one split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from entropy_attention_jax.data.errors import DataError, check_integer

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")


class SplitWindows(NamedTuple):
  """Window start indices of the three chronological splits.

  Attributes:
    train: `[num_train]` int64 start indices, ascending.
    val: `[num_val]` int64 start indices, ascending.
    test: `[num_test]` int64 start indices, ascending.
    boundaries: `(b1, b2)`, the first step of the validation and test periods.
  """

  train: np.ndarray
  val: np.ndarray
  test: np.ndarray
  boundaries: tuple[int, int]


def normalize_split_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
  """Checks `(train, val, test)` fractions: three, non-negative, sum to 1.

  Args:
    ratios: three fractions, e.g. `(0.6, 0.2, 0.2)`; `(7, 1, 2)` is also accepted
      and divided by its sum.

  Returns:
    The fractions as floats summing to 1.

  Raises:
    DataError: not three numbers, a negative or non-finite entry, or a zero
      training fraction.
  """
  try:
    values = tuple(float(r) for r in ratios)
  except (TypeError, ValueError):
    raise DataError(
        f"split_ratios must be three numbers (train, val, test), got {ratios!r}."
    ) from None
  if len(values) != 3:
    raise DataError(
        f"split_ratios must be three numbers (train, val, test), got {len(values)}:"
        f" {ratios!r}."
    )
  if any(not math.isfinite(r) or r < 0 for r in values):
    raise DataError(f"split_ratios must be finite and >= 0, got {ratios!r}.")
  total = sum(values)
  if values[0] <= 0 or total <= 0:
    raise DataError(f"split_ratios needs a positive training fraction, got {ratios!r}.")
  return (values[0] / total, values[1] / total, values[2] / total)


def split_boundaries(num_steps: int, ratios: Sequence[float]) -> tuple[int, int]:
  """The first steps `(b1, b2)` of the validation and test periods.

  Args:
    num_steps: length `T` of the series.
    ratios: `(train, val, test)` fractions (see `normalize_split_ratios`).

  Returns:
    `b1 = round(T * r_train)` and `b2 = round(T * (r_train + r_val))`.
  """
  train, val, _ = normalize_split_ratios(ratios)
  return round(num_steps * train), round(num_steps * (train + val))


def split_windows(
    num_steps: int,
    in_steps: int,
    out_steps: int,
    ratios: Sequence[float],
) -> SplitWindows:
  """Window start indices of the train, val and test splits (module docstring).

  Args:
    num_steps: length `T` of the series.
    in_steps: input steps per window.
    out_steps: target steps per window.
    ratios: `(train, val, test)` fractions of the steps.

  Returns:
    A `SplitWindows` of ascending int64 start indices.

  Raises:
    DataError: non-positive step counts, a series shorter than one window, or
      a split with a positive fraction that gets no window (the message says
      how many steps it would need).
  """
  in_steps = check_integer("in_steps", in_steps, 1)
  out_steps = check_integer("out_steps", out_steps, 1)
  ratios = normalize_split_ratios(ratios)
  window = in_steps + out_steps
  if num_steps < window:
    raise DataError(
        f"The series has {num_steps} steps, too short for one window of"
        f" in_steps + out_steps = {in_steps} + {out_steps} = {window} steps."
    )
  b1, b2 = split_boundaries(num_steps, ratios)
  train = np.arange(0, max(b1 - window + 1, 0), dtype=np.int64)
  val = np.arange(max(b1 - in_steps, 0), max(b2 - window + 1, 0), dtype=np.int64)
  test = np.arange(max(b2 - in_steps, 0), num_steps - window + 1, dtype=np.int64)
  # Periods: train needs whole windows inside it, val and test only targets.
  needed = {"train": window, "val": out_steps, "test": out_steps}
  periods = {"train": b1, "val": b2 - b1, "test": num_steps - b2}
  for name, starts, ratio in zip(SPLIT_NAMES, (train, val, test), ratios):
    if ratio > 0 and len(starts) == 0:
      raise DataError(
          f"The {name} split gets no window: its period has {periods[name]}"
          f" steps (ratio {ratio:.3g} of {num_steps}) but needs at least"
          f" {needed[name]} (in_steps={in_steps}, out_steps={out_steps})."
          " Use a longer series, shorter windows or other split_ratios."
      )
  return SplitWindows(train, val, test, (b1, b2))
