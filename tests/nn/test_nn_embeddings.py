"""Tests of the periodic and adaptive embeddings."""

from __future__ import annotations

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from entropy_attention_jax.nn import AdaptiveEmbedding, PeriodicEmbedding


def test_time_of_day_fractions_map_to_their_slots():
  steps_per_day = 1440  # one-minute data
  embedding = PeriodicEmbedding(steps_per_day, 4, rngs=nnx.Rngs(0))
  slots = np.arange(steps_per_day)
  # Fractions as a data pipeline stores them (float64 k / 1440 cast to
  # float32): 74 of them land a few ulps below k when multiplied back.
  fractions = jnp.asarray((slots / steps_per_day).astype(np.float32))
  assert np.sum(np.floor(fractions * steps_per_day) != slots) > 0
  table = embedding.table.embedding[...]
  np.testing.assert_array_equal(embedding(fractions * steps_per_day), table[slots])
  # A fraction of 1.0 is midnight again; a position within a slot floors.
  positions = jnp.array([1440.0, 3.6, -1.0])
  np.testing.assert_array_equal(embedding(positions), table[jnp.array([0, 3, 1439])])


def test_day_of_week_index_and_leading_axes():
  embedding = PeriodicEmbedding(7, 5, rngs=nnx.Rngs(0))
  days = jnp.array([[0.0, 6.0], [3.0, 7.0]])
  output = embedding(days)
  chex.assert_shape(output, (2, 2, 5))
  table = embedding.table.embedding[...]
  np.testing.assert_array_equal(output, table[jnp.array([[0, 6], [3, 0]])])


def test_adaptive_embedding_broadcast_and_xavier_range():
  shape = (12, 30, 8)
  embedding = AdaptiveEmbedding(shape, rngs=nnx.Rngs(0))
  chex.assert_shape(embedding((4,)), (4, *shape))
  # PyTorch's xavier_uniform fans for a 3-D tensor: (30 * 8) in, (12 * 8) out.
  bound = np.sqrt(6.0 / (30 * 8 + 12 * 8))
  table = np.asarray(embedding.table[...])
  assert np.abs(table).max() <= bound
  assert np.abs(table).max() > 0.9 * bound


@pytest.mark.parametrize(
    "make",
    [
        lambda: PeriodicEmbedding(0, 4, rngs=nnx.Rngs(0)),
        lambda: AdaptiveEmbedding((5,), rngs=nnx.Rngs(0)),
    ],
)
def test_bad_sizes_raise(make):
  with pytest.raises(ValueError, match="must"):
    make()
