"""Tests of `EntropyLinearAttention`: composition, kinds, modes, errors."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from entropy_attention_jax import ATTENTION_FUNCTIONS, eala_attention
from entropy_attention_jax.models import parameter_count
from entropy_attention_jax.nn import EntropyLinearAttention, PerformerFeatures

KINDS = sorted(ATTENTION_FUNCTIONS)
HEADS, FEATURES, LENGTH = 2, 16, 7


def make_layer(attention="eala", **kwargs):
  return EntropyLinearAttention(HEADS, FEATURES, attention=attention, rngs=nnx.Rngs(0), **kwargs)


def inputs(length=LENGTH, seed=0):
  return jax.random.normal(jax.random.key(seed), (2, 3, length, FEATURES))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_swaps_in_with_equal_parameters(kind):
  layer = make_layer(kind)
  # Same seed -> identical projection weights, whatever the kind.
  chex.assert_trees_all_equal(
      nnx.state(layer, nnx.Param), nnx.state(make_layer("eala"), nnx.Param)
  )
  assert parameter_count(layer) == 4 * (FEATURES * FEATURES + FEATURES)

  @nnx.jit
  def loss_grad(module, x):
    def loss(module):
      output = module(x)
      return jnp.mean(output**2), output

    return nnx.grad(loss, has_aux=True)(module)

  grads, output = loss_grad(layer, inputs())
  chex.assert_shape(output, (2, 3, LENGTH, FEATURES))
  chex.assert_tree_all_finite((output, grads))
  assert jnp.any(grads["query"]["kernel"][...] != 0)
  assert set(grads) == {"query", "key", "value", "out"}  # never the Performer features


def test_performer_features_are_fixed_variables_not_params():
  layer = make_layer("performer", attention_options={"num_features": 12})
  assert isinstance(layer.performer_features, PerformerFeatures)
  assert "performer_features" not in nnx.state(layer, nnx.Param)
  assert layer.performer_features.shape == (12, FEATURES // HEADS)
  # The stored features are the ones used: other features change the output.
  before = layer(inputs())
  layer.performer_features[...] = -layer.performer_features[...]
  assert not np.allclose(layer(inputs()), before)


def test_eala_layer_is_projections_around_eala_attention():
  layer = make_layer("eala", attention_options={"estimator": "cumulant3", "nonneg": True})
  x = inputs()
  query, key, value = layer.query(x), layer.key(x), layer.value(x)
  expected = layer.out(eala_attention(query, key, value, estimator="cumulant3", nonneg=True))
  np.testing.assert_allclose(layer(x), expected, rtol=1e-6, atol=1e-6)
  # The options reach the function: the default estimator gives another output.
  assert not np.allclose(make_layer("eala")(x), expected, atol=1e-4)


def test_softmax_layer_equals_flax_multi_head_attention():
  x = inputs()
  flax_layer = nnx.MultiHeadAttention(HEADS, FEATURES, decode=False, rngs=nnx.Rngs(0))
  layer = make_layer("softmax")
  nnx.update(layer, nnx.state(flax_layer, nnx.Param))
  np.testing.assert_allclose(layer(x), flax_layer(x), rtol=1e-6, atol=1e-6)


def test_cross_attention_with_other_kv_length():
  layer = make_layer("eala")
  output = layer(inputs(LENGTH), inputs(11, seed=1))
  chex.assert_shape(output, (2, 3, LENGTH, FEATURES))
  with pytest.raises(ValueError, match="inputs_v was given without inputs_k"):
    layer(inputs(), None, inputs())


@pytest.mark.parametrize("kind", ["eala", "linear", "softmax"])
def test_key_padding_mask_hides_keys(kind):
  layer = make_layer(kind)
  x = inputs()
  keep = jnp.arange(LENGTH) < 4
  mask = keep[None, None, None, None, :]  # [batch..., heads, 1, kv_len]
  changed = x.at[..., 4:, :].add(5.0)
  # Queries 0..3 see only keys 0..3, whose inputs are unchanged.
  np.testing.assert_allclose(
      layer(x, mask=mask)[..., :4, :], layer(x, changed, mask=mask)[..., :4, :],
      rtol=1e-5, atol=1e-5,
  )


@pytest.mark.parametrize("kind", KINDS)
def test_causal_output_ignores_the_future(kind):
  layer = make_layer(kind, causal=True)
  x = inputs()
  try:
    output = layer(x)
  except NotImplementedError as error:
    pytest.skip(f"causal {kind} is not implemented by its attention function: {error}")
  future_changed = layer(x.at[..., 4:, :].add(3.0))
  np.testing.assert_allclose(output[..., :4, :], future_changed[..., :4, :], rtol=1e-5, atol=1e-5)
  assert not np.allclose(output[..., 4:, :], future_changed[..., 4:, :])


def test_dropout_acts_on_the_output_only_in_training():
  layer = make_layer("eala", dropout_rate=0.5)
  x = inputs()
  train_a, train_b = layer(x), layer(x)  # new dropout masks each call
  assert not np.allclose(train_a, train_b)
  evaluated = layer(x, deterministic=True)
  layer.eval()
  np.testing.assert_array_equal(layer(x), evaluated)
  np.testing.assert_array_equal(layer(x), layer(x))
  assert not np.allclose(layer(x, deterministic=False), evaluated)
  layer.train()
  assert not np.allclose(layer(x), evaluated)


def test_jit_matches_eager():
  layer = make_layer("eala")
  x = inputs()
  np.testing.assert_allclose(
      nnx.jit(lambda m, x: m(x))(layer, x), layer(x), rtol=1e-5, atol=1e-5
  )


def test_bfloat16_computation():
  layer = make_layer("eala", dtype=jnp.bfloat16)
  output = layer(inputs().astype(jnp.bfloat16))
  assert output.dtype == jnp.bfloat16
  chex.assert_tree_all_finite(output)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attention="flash"), "unknown attention='flash'"),
        (dict(attention_options={"estimator": "cumulant2", "beta": 1}), r"\['beta'\] do not apply"),
        (dict(attention="softmax", attention_options={"nonneg": True}), r"\['nonneg'\]"),
        (dict(attention_options={"dropout_rate": 0.1}), "set by the layer itself"),
        (dict(qkv_features=15), "multiple of num_heads"),
        (dict(dropout_rate=1.0), "dropout_rate"),
    ],
)
def test_bad_construction_raises(kwargs, message):
  with pytest.raises(ValueError, match=message):
    make_layer(**kwargs)


def test_wrong_input_features_raise():
  with pytest.raises(ValueError, match=r"inputs_q must be \[batch..., length, in_features=16\]"):
    make_layer()(jnp.ones((2, LENGTH, 8)))


@pytest.mark.parametrize("kind", ["eala", "taylor", "linear"])
def test_decode_token_by_token_equals_the_causal_forward_pass(kind):
  options = {"estimator": "cumulant3", "nonneg": True} if kind == "eala" else {}
  layer = make_layer(kind, causal=True, attention_options=options)
  x = inputs(length=9)
  full = layer(x)
  layer.init_cache(x.shape)
  assert all(leaf.shape[:2] == (2, 3) for leaf in jax.tree.leaves(layer.decode_state.get_value()))
  step = nnx.jit(lambda module, token: module(token, decode=True))
  prompt = layer(x[..., :4, :], decode=True)  # prefill, then one token at a time
  outputs = [prompt] + [step(layer, x[..., t:t + 1, :]) for t in range(4, 9)]
  np.testing.assert_allclose(jnp.concatenate(outputs, -2), full, atol=2e-5)


def test_decode_needs_a_causal_stateful_kind_and_a_cache():
  with pytest.raises(ValueError, match="decoding needs causal=True"):
    make_layer("softmax", causal=True).init_cache((2, 1, FEATURES))
  with pytest.raises(ValueError, match="decoding needs causal=True"):
    make_layer("eala").init_cache((2, 1, FEATURES))
  with pytest.raises(ValueError, match="call init_cache"):
    make_layer("eala", causal=True)(inputs(length=1), decode=True)


def test_flax_multi_head_attention_decodes_eala_with_its_kv_cache():
  # The recipe of docs/attention.md: Flax's decode=True (an O(L) KV cache) passes
  # one query and a key-only mask, which EALA takes as the causal row.
  x = inputs(length=6)[:, 0]
  mha = nnx.MultiHeadAttention(HEADS, FEATURES, attention_fn=eala_attention, decode=False,
                               rngs=nnx.Rngs(0))
  full = mha.out(eala_attention(mha.query(x), mha.key(x), mha.value(x), causal=True))
  mha.init_cache(x.shape)
  steps = [mha(x[:, t:t + 1], decode=True) for t in range(6)]
  np.testing.assert_allclose(jnp.concatenate(steps, 1), full, atol=2e-5)


@pytest.mark.parametrize("kind", ["eala", "softmax"])
def test_grouped_key_value_heads_equal_repeated_heads(kind):
  layer = EntropyLinearAttention(4, FEATURES, num_kv_heads=2, attention=kind, causal=True,
                                 collect_diagnostics=True, rngs=nnx.Rngs(0))
  assert layer.key.kernel.shape == (FEATURES, 2, FEATURES // 4)
  x = inputs(length=5)
  q, k, v = layer.query(x), layer.key(x), layer.value(x)
  want = layer.out(ATTENTION_FUNCTIONS[kind](
      q, jnp.repeat(k, 2, -2), jnp.repeat(v, 2, -2), causal=True))
  got, intermediates = nnx.capture(layer, nnx.Intermediate)(x)  # diagnostics take GQA too
  assert ("theta" if kind == "eala" else "attention_weights") in intermediates
  np.testing.assert_allclose(got, want, atol=2e-5)
  if kind == "eala":  # decoding keeps one state per key head
    layer.init_cache(x.shape)
    assert layer.decode_state.get_value().count.shape == (2, 3, 2)
    steps = [layer(x[..., t:t + 1, :], decode=True) for t in range(5)]
    np.testing.assert_allclose(jnp.concatenate(steps, -2), want, atol=2e-5)
