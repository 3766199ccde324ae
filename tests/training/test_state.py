"""Host bookkeeping: early stopping and the progress record."""

from __future__ import annotations

import math

import pytest

from entropy_attention_jax.training.state import EarlyStopping, Progress


def test_early_stopping_counts_epochs_without_a_lower_mae():
  early = EarlyStopping()
  assert early.update(5.0, epoch=0, step=10)
  assert not early.update(5.0, epoch=1, step=20)  # equal is no improvement
  assert not early.update(math.nan, epoch=2, step=30)
  assert not early.update(None, epoch=3, step=40)
  assert (early.best_value, early.best_epoch, early.best_step, early.bad_epochs) == (5.0, 0, 10, 3)
  assert early.should_stop(3) and not early.should_stop(4) and not early.should_stop(0)
  assert early.update(4.0, epoch=4, step=50) and early.bad_epochs == 0


def test_progress_round_trips_and_rejects_other_records():
  progress = Progress(step=7, epoch=1, batch_in_epoch=2, epoch_loss_sum=1.5, metrics_log_bytes=99)
  progress.early_stopping.update(3.0, epoch=0, step=5)
  assert Progress.from_dict(progress.to_dict()) == progress
  with pytest.raises(ValueError, match="progress record has keys"):
    Progress.from_dict({"step": 1})
