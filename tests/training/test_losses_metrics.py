"""Losses and masked metrics against plain NumPy references."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.training import (
    error_sums,
    forecasting_loss,
    format_table,
    summarize,
    target_mask,
)
from entropy_attention_jax.training.metrics import add_sums

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
