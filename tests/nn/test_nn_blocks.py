"""Tests of the feed-forward and transformer blocks."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from entropy_attention_jax.nn import FeedForward, TransformerBlock

FEATURES, HEADS, HIDDEN, LENGTH = 16, 2, 24, 7


def test_feed_forward_is_relu_mlp():
  layer = FeedForward(FEATURES, HIDDEN, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (3, FEATURES))
  hidden = jnp.maximum(x @ layer.hidden.kernel[...] + layer.hidden.bias[...], 0.0)
  expected = hidden @ layer.output.kernel[...] + layer.output.bias[...]
  np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


def test_transformer_block_is_post_norm_residual():
  block = TransformerBlock(FEATURES, HEADS, HIDDEN, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (2, 3, LENGTH, FEATURES))
  output = block(x, deterministic=True)
  chex.assert_shape(output, x.shape)
  # Recompute the documented formula from the sublayers (dropout is exercised
  # in the attention layer's and the model's tests).
  h = block.attention_norm(x + block.attention(x))
  expected = block.feed_forward_norm(h + block.feed_forward(h))
  np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)
  # Post-norm: the output is layer-normalised (unit scale, zero bias at init).
  np.testing.assert_allclose(jnp.mean(output, -1), 0.0, atol=1e-5)
  np.testing.assert_allclose(jnp.std(output, -1), 1.0, rtol=1e-3)
