"""The chronological split rule of `windows.py`, checked window by window."""

from __future__ import annotations

import numpy as np
import pytest

from entropy_attention_jax.data import DataError, split_windows
from entropy_attention_jax.data.windows import normalize_split_ratios, split_boundaries


@pytest.mark.parametrize(
    "num_steps, in_steps, out_steps, ratios",
    [
        (200, 12, 12, (0.6, 0.2, 0.2)),
        (1000, 12, 12, (0.7, 0.1, 0.2)),
        (97, 5, 3, (6, 2, 2)),
        (60, 4, 7, (0.5, 0.25, 0.25)),
        (100, 12, 12, (0.8, 0.0, 0.2)),
    ],
)
def test_split_rule(num_steps, in_steps, out_steps, ratios):
  windows = split_windows(num_steps, in_steps, out_steps, ratios)
  b1, b2 = windows.boundaries
  assert (b1, b2) == split_boundaries(num_steps, ratios)
  periods = {"train": (0, b1), "val": (b1, b2), "test": (b2, num_steps)}
  window = in_steps + out_steps
  targets_seen = {}
  for name in ("train", "val", "test"):
    starts = getattr(windows, name)
    assert starts.dtype == np.int64 and np.all(np.diff(starts) == 1)
    low, high = periods[name]
    for s in starts:
      # Every target step lies in the split's own period ...
      assert low <= s + in_steps and s + window <= high
      for step in range(s + in_steps, s + window):
        targets_seen.setdefault(step, set()).add(name)
    if name == "train" and len(starts):
      assert starts[0] == 0 and starts[-1] + window == b1  # ... training inputs too.
  # A step is the target of one split only, and no training target reaches val/test.
  assert all(len(names) == 1 for names in targets_seen.values())
  assert all(step < b1 for step, names in targets_seen.items() if "train" in names)
  # Exactly the windows whose targets straddle a boundary are left out.
  all_starts = set(range(num_steps - window + 1))
  kept = set(np.concatenate(windows[:3]).tolist())
  dropped = all_starts - kept
  for s in dropped:
    first, last = s + in_steps, s + window - 1
    assert any(first < b <= last for b in (b1, b2))
  assert len(dropped) == (out_steps - 1) * len({b1, b2})
  assert len(windows.val) == (max(b2 - b1 - out_steps + 1, 0) if b2 > b1 else 0)
  assert len(windows.test) == num_steps - b2 - out_steps + 1


def test_boundaries_round_to_nearest_step():
  assert split_boundaries(1001, (0.6, 0.2, 0.2)) == (601, 801)
  assert split_boundaries(34272, (0.7, 0.1, 0.2)) == (23990, 27418)


def test_too_short_for_one_window():
  with pytest.raises(DataError, match=r"23 steps, too short for one window .* 24 steps"):
    split_windows(23, 12, 12, (0.6, 0.2, 0.2))


def test_split_without_windows_names_the_split():
  no_window = r"val split gets no window: its period has 6 steps .* needs at least 12"
  with pytest.raises(DataError, match=no_window):
    split_windows(60, 12, 12, (0.8, 0.1, 0.1))


@pytest.mark.parametrize(
    "ratios, message",
    [((0.5, 0.5), "three numbers"), ((0.6, -0.2, 0.6), ">= 0"), ((0, 1, 1), "positive training"),
     (("a", 1, 1), "three numbers"), ((0.6, float("nan"), 0.2), "finite")],
)
def test_bad_ratios(ratios, message):
  with pytest.raises(DataError, match=message):
    normalize_split_ratios(ratios)


def test_ratios_are_normalised():
  assert normalize_split_ratios((7, 1, 2)) == pytest.approx((0.7, 0.1, 0.2))


@pytest.mark.parametrize("in_steps, out_steps", [(0, 12), (12, -1), (2.5, 3)])
def test_bad_window_sizes(in_steps, out_steps):
  with pytest.raises(DataError, match="must be an integer >= 1"):
    split_windows(100, in_steps, out_steps, (0.6, 0.2, 0.2))
