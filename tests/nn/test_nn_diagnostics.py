"""Attention diagnostics: what is sown, and that outputs do not change."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from entropy_attention_jax import ATTENTION_FUNCTIONS, approx_entropy, softmax_entropy
from entropy_attention_jax.nn import (
    EntropyLinearAttention,
    capture_attention_diagnostics,
    summarize_attention_diagnostics,
)

HEADS, FEATURES, LENGTH = 2, 16, 7
EXPECTED_NAMES = {
    "eala": {"theta", "entropy_target", "softmax_entropy", "attention_weights", "softmax_weights"},
    "softmax": {"softmax_entropy", "attention_weights"},
    **{
        kind: {"softmax_entropy", "attention_weights", "softmax_weights"}
        for kind in ("linear", "performer", "taylor")
    },
}


def make_layer(kind, **kwargs):
  return EntropyLinearAttention(HEADS, FEATURES, attention=kind, rngs=nnx.Rngs(0), **kwargs)


@pytest.fixture(scope="module")
def x():
  return jax.random.normal(jax.random.key(0), (2, 3, LENGTH, FEATURES)) * 2.0


@pytest.mark.parametrize("kind", sorted(ATTENTION_FUNCTIONS))
def test_diagnostics_leave_outputs_bitwise_identical(kind, x):
  layer = make_layer(kind)
  plain = layer(x)
  outputs, diagnostics = capture_attention_diagnostics(layer, x)
  np.testing.assert_array_equal(outputs, plain)
  assert set(diagnostics) == {""}  # the layer itself is the root
  assert set(diagnostics[""]) == EXPECTED_NAMES[kind]
  assert layer.collect_diagnostics is False  # only a view had them switched on
  weights = diagnostics[""]["attention_weights"]
  chex.assert_shape(weights, (2, 3, HEADS, LENGTH, LENGTH))
  np.testing.assert_allclose(jnp.sum(weights, -1), 1.0, rtol=1e-5)
  chex.assert_shape(diagnostics[""]["softmax_entropy"], (2, 3, LENGTH, HEADS))
  if kind != "softmax":  # softmax's weights on the same projected queries and keys
    softmax_layer = make_layer("softmax")  # same seed: same projections
    _, reference = capture_attention_diagnostics(softmax_layer, x)
    np.testing.assert_allclose(
        diagnostics[""]["softmax_weights"], reference[""]["attention_weights"], atol=1e-6)


def test_diagnostics_under_jit_are_bitwise_identical(x):
  layer = make_layer("eala")
  plain = nnx.jit(lambda m, x: m(x))(layer, x)
  outputs, diagnostics = nnx.jit(capture_attention_diagnostics)(layer, x)
  np.testing.assert_array_equal(outputs, plain)
  chex.assert_shape(diagnostics[""]["theta"], (2, 3, LENGTH, HEADS))


def test_eala_diagnostics_are_the_quantities_they_name(x):
  layer = make_layer("eala", attention_options={"estimator": "cumulant3"})
  _, diagnostics = capture_attention_diagnostics(layer, x)
  query, key = layer.query(x), layer.key(x)
  np.testing.assert_allclose(
      diagnostics[""]["entropy_target"], approx_entropy(query, key, estimator="cumulant3"),
      rtol=1e-5, atol=1e-5,
  )
  np.testing.assert_allclose(
      diagnostics[""]["softmax_entropy"], softmax_entropy(query, key), rtol=1e-5, atol=1e-5
  )
  # The sown weights are the layer's: applied to its values they give its output.
  weights, value = diagnostics[""]["attention_weights"], layer.value(x)
  heads_output = jnp.einsum("...hqk,...khv->...qhv", weights, value)
  np.testing.assert_allclose(layer.out(heads_output), layer(x), rtol=1e-4, atol=1e-4)


def test_output_only_options_do_not_reach_the_weights(x):
  layer = make_layer("linear", attention_options={"eps": 1e-5, "chunk_size": 4})
  _, diagnostics = capture_attention_diagnostics(layer, x)
  chex.assert_shape(diagnostics[""]["attention_weights"], (2, 3, HEADS, LENGTH, LENGTH))


def test_long_sequences_skip_explicit_weights(x):
  layer = make_layer("eala", diagnostics_max_length=LENGTH - 1)
  _, diagnostics = capture_attention_diagnostics(layer, x)
  assert "attention_weights" not in diagnostics[""]
  assert "theta" in diagnostics[""]


def test_summary_statistics(x):
  layer = make_layer("eala")
  _, diagnostics = capture_attention_diagnostics(layer, x)
  summary = summarize_attention_diagnostics(diagnostics)[""]
  theta = diagnostics[""]["theta"]
  assert summary["theta_mean"] == pytest.approx(float(jnp.mean(theta)), rel=1e-6)
  assert summary["theta_min"] <= summary["theta_mean"] <= summary["theta_max"]
  error = jnp.mean(jnp.abs(diagnostics[""]["entropy_target"] - diagnostics[""]["softmax_entropy"]))
  assert summary["entropy_abs_error"] == pytest.approx(float(error), rel=1e-5)
  assert 0.0 <= summary["negative_weight_fraction"] <= 1.0


def test_a_layer_called_twice_gives_a_tuple(x):
  class Twice(nnx.Module):
    def __init__(self):
      self.attention = make_layer("eala")

    def __call__(self, x):
      return self.attention(self.attention(x))

  _, diagnostics = capture_attention_diagnostics(Twice(), x)
  theta = diagnostics["attention"]["theta"]
  assert isinstance(theta, tuple) and len(theta) == 2


def test_model_without_attention_layers_raises(x):
  with pytest.raises(ValueError, match="has no EntropyLinearAttention layer"):
    capture_attention_diagnostics(nnx.Linear(FEATURES, 2, rngs=nnx.Rngs(0)), x)
