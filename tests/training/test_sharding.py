"""Batch padding and placement (the multi-device case runs in test_data_parallel.py)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from entropy_attention_jax.training.sharding import (
    batch_sharded,
    data_mesh,
    pad_batch,
    padded_batch_size,
    shard_batch,
)


def test_pad_batch_repeats_the_last_row_and_marks_padding_invalid():
  batch = {"x": np.arange(12.0).reshape(3, 4), "y": np.arange(3.0)}
  padded = pad_batch(batch, 5)
  np.testing.assert_array_equal(padded["valid"], [True, True, True, False, False])
  np.testing.assert_array_equal(padded["x"][3:], [batch["x"][2]] * 2)
  np.testing.assert_array_equal(padded["y"], [0, 1, 2, 2, 2])
  again = pad_batch(padded, 6)  # An existing `valid` entry is kept.
  np.testing.assert_array_equal(again["valid"], [True, True, True, False, False, False])
  assert pad_batch(batch, 3)["valid"].all()
  with pytest.raises(ValueError, match="a batch of 3 rows cannot be padded to 2"):
    pad_batch(batch, 2)


def test_shard_batch_places_the_rows_over_the_mesh():
  mesh = data_mesh()
  devices = len(jax.devices())
  assert padded_batch_size(5, mesh) == -(-5 // devices) * devices
  rows = padded_batch_size(4, mesh)
  batch = {"x": np.random.default_rng(0).normal(size=(rows, 3)).astype(np.float32)}
  sharded = shard_batch(batch, mesh)
  assert sharded["x"].sharding == batch_sharded(mesh)
  np.testing.assert_array_equal(np.asarray(sharded["x"]), batch["x"])
