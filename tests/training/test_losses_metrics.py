"""Losses and masked metrics against plain NumPy references."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.training.losses import forecasting_loss, target_mask
from entropy_attention_jax.training.metrics import add_sums, error_sums, format_table, summarize

B, T, N = 5, 12, 4


def _batch(seed: int, zero_share: float = 0.2):
  rng = np.random.default_rng(seed)
  targets = rng.uniform(10, 200, (B, T, N, 1)).astype(np.float32)
  targets[rng.random(targets.shape) < zero_share] = 0.0
  predictions = (targets + rng.normal(0, 15, targets.shape)).astype(np.float32)
  return predictions, targets


def staeformer_metrics(predictions: np.ndarray, targets: np.ndarray) -> tuple[float, float, float]:
  """MAE, RMSE, MAPE (%) as STAEformer's lib/metrics.py computes them (zeros masked)."""
  mask = (targets != 0).astype(np.float64)
  mask /= mask.mean()
  error = np.abs(predictions.astype(np.float64) - targets)
  mae = np.mean(error * mask)
  rmse = np.sqrt(np.mean(error**2 * mask))
  with np.errstate(divide="ignore", invalid="ignore"):
    mape = np.mean(np.nan_to_num(mask * error / targets)) * 100
  return mae, rmse, mape


def test_huber_and_mae_losses_match_their_formulas():
  predictions, targets = _batch(0)
  valid = np.array([True, True, True, False, True])
  mask = np.asarray(target_mask(jnp.asarray(targets), jnp.asarray(valid), mask_zeros=True))
  np.testing.assert_array_equal(mask, valid[:, None, None, None] & (targets != 0))
  error = np.abs(predictions - targets).astype(np.float64)
  delta = 10.0
  huber = np.where(error <= delta, 0.5 * error**2, delta * (error - 0.5 * delta))
  loss = forecasting_loss(predictions, targets, mask, kind="huber", huber_delta=delta)
  np.testing.assert_allclose(loss, huber[mask].mean(), rtol=1e-6)
  loss = forecasting_loss(predictions, targets, mask, kind="mae")
  np.testing.assert_allclose(loss, error[mask].mean(), rtol=1e-6)


def test_masked_entries_do_not_count():
  predictions, targets = _batch(1)
  mask = np.asarray(target_mask(jnp.asarray(targets), jnp.ones(B, bool), mask_zeros=True))
  wild = np.where(mask, predictions, 1e6)
  assert forecasting_loss(wild, targets, mask) == forecasting_loss(predictions, targets, mask)
  unmasked = target_mask(jnp.asarray(targets), jnp.ones(B, bool), mask_zeros=False)
  assert bool(np.all(np.asarray(unmasked)))
  assert forecasting_loss(predictions, targets, np.zeros_like(mask)) == 0.0
  with pytest.raises(ValueError, match="kind must be one of"):
    forecasting_loss(predictions, targets, mask, kind="mse")


def test_streamed_metrics_equal_staeformer_on_the_whole_set():
  batches = [_batch(seed) for seed in (2, 3, 4)]
  total = None
  for predictions, targets in batches:
    # Two padding rows with garbage: `valid` False must leave them out.
    padded_predictions = np.concatenate([predictions, np.full((2, T, N, 1), 9e3, np.float32)])
    padded_targets = np.concatenate([targets, np.ones((2, T, N, 1), np.float32)])
    valid = np.arange(B + 2) < B
    total = add_sums(total, error_sums(padded_predictions, padded_targets, valid))
  result = summarize(total)
  predictions = np.concatenate([p for p, _ in batches])
  targets = np.concatenate([t for _, t in batches])
  expected = staeformer_metrics(predictions, targets)
  np.testing.assert_allclose([result["mae"], result["rmse"], result["mape"]], expected, rtol=1e-5)
  assert list(result["horizons"]) == ["3", "6", "12"]
  for horizon, values in result["horizons"].items():
    step = int(horizon) - 1
    expected = staeformer_metrics(predictions[:, step], targets[:, step])
    np.testing.assert_allclose([values["mae"], values["rmse"], values["mape"]], expected, rtol=1e-5)


def test_horizons_beyond_out_steps_are_omitted_and_empty_sets_give_none():
  predictions, targets = _batch(5)
  valid = np.ones(B, bool)
  result = summarize(add_sums(None, error_sums(predictions[:, :6], targets[:, :6], valid)))
  assert list(result["horizons"]) == ["3", "6"]
  empty = summarize(add_sums(None, error_sums(predictions, np.zeros_like(targets), valid)))
  assert empty["mae"] is None and empty["horizons"]["12"]["mape"] is None
  table = format_table(result, "title")
  assert table.splitlines()[0] == "title"
  assert table.splitlines()[-1].startswith(f"| average | {result['mae']:.3f} |")
  assert "| 12 |" not in table


def test_error_sums_per_node_with_nan_targets_and_real_zeros():
  predictions, targets = _batch(6)
  targets[0, 0, 1, 0] = np.nan  # Missing.
  targets[1, 2, 3, 0] = 0.0  # A real zero (missing_value None) or a missing one (0).
  valid = np.ones(B, bool)
  sums = error_sums(predictions, targets, valid, missing_value=None)
  assert all(np.asarray(x).shape == (T, N) for x in sums)
  count, relative_count = np.asarray(sums.count), np.asarray(sums.relative_count)
  assert count[0, 1] == B - 1  # The NaN is left out; zeros are real values here.
  assert count[2, 3] - relative_count[2, 3] == np.sum(targets[:, 2, 3, 0] == 0)
  # The real zero counts for MAE (not MAPE), a zero marking missing counts for neither.
  zeros_missing = error_sums(predictions, targets, valid, missing_value=0.0)
  np.testing.assert_array_equal(np.asarray(zeros_missing.count), relative_count)
  error = np.abs(predictions - targets)[..., 0]
  mask = ~np.isnan(targets[..., 0])
  np.testing.assert_allclose(np.asarray(sums.absolute), np.where(mask, error, 0).sum(0), rtol=1e-5)
  result = summarize(add_sums(None, sums), node_ids=("a", "b", "c", "d"),
                     node_scale=np.array([1.0, 2.0, 4.0, 8.0]))
  assert set(result["nodes"]) == {"a", "b", "c", "d"}
  node_mae = np.where(mask, error, 0).sum((0, 1)) / mask.sum((0, 1))
  np.testing.assert_allclose([result["nodes"][n]["mae"] for n in "abcd"], node_mae, rtol=1e-5)
  scaled = (np.where(mask, error, 0).sum((0, 1)) / [1, 2, 4, 8]).sum() / mask.sum()
  np.testing.assert_allclose(result["mae_scaled"], scaled, rtol=1e-5)
  assert "nodes" not in summarize(add_sums(None, sums))
