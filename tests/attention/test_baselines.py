"""Softmax, linear (elu+1), Performer and Taylor attention against references."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.attention import (
    ATTENTION_FUNCTIONS,
    attention_weights,
    get_attention_fn,
    linear_attention,
    eala_weights,
    naive_eala,
    performer_attention,
    performer_features,
    softmax_attention,
    taylor_attention,
)
from tests.conftest import gaussian_qkv, reference_scores

OPTIONS = {"performer": dict(feature_key=jax.random.key(0), num_features=64)}


def reference_softmax(query, key, value, mask=None, bias=None, causal=False):
  scores = reference_scores(query, key)
  if bias is not None:
    scores = scores + np.asarray(bias)
  valid = np.ones(scores.shape, bool) if mask is None else np.broadcast_to(mask, scores.shape)
  if causal:
    valid = valid & np.tril(np.ones(scores.shape[-2:], bool))
  scores = np.where(valid, scores, -np.inf)
  top = np.max(scores, -1, keepdims=True)
  exp = np.where(valid, np.exp(scores - np.where(np.isfinite(top), top, 0)), 0)
  weights = exp / np.maximum(exp.sum(-1, keepdims=True), 1e-300)
  return np.einsum("...hqk,...khv->...qhv", weights, np.asarray(value, np.float64))


@pytest.mark.parametrize("v_dim", [8, 5])
@pytest.mark.parametrize("causal", [False, True])
def test_softmax_matches_reference(v_dim, causal):
  query, key, value = gaussian_qkv(0, batch=(2, 3), kv_len=16, v_dim=v_dim)
  np.testing.assert_allclose(
      softmax_attention(query, key, value, causal=causal),
      reference_softmax(query, key, value, causal=causal),
      atol=1e-5,
  )


def test_softmax_mask_bias_and_fully_masked_queries():
  query, key, value = gaussian_qkv(1, kv_len=16)
  rng = np.random.default_rng(1)
  mask = rng.random((2, 2, 16, 16)) > 0.3
  mask[0, 0, 3] = False  # one query with no valid key
  bias = rng.standard_normal((2, 2, 16, 16))
  got = softmax_attention(query, key, value, mask=jnp.asarray(mask), bias=jnp.asarray(bias))
  np.testing.assert_allclose(got, reference_softmax(query, key, value, mask, bias), atol=1e-5)
  np.testing.assert_array_equal(got[0, 3, 0], 0.0)


def test_softmax_explicit_path_equals_fused_path():
  query, key, value = gaussian_qkv(2, kv_len=16)
  fused = softmax_attention(query, key, value)
  explicit = softmax_attention(query, key, value, precision=jax.lax.Precision.HIGHEST)
  np.testing.assert_allclose(explicit, fused, atol=1e-5)


def test_softmax_dropout_needs_a_key_and_is_unbiased_in_expectation():
  query, key, value = gaussian_qkv(3, batch=(1,), q_len=4, kv_len=8, heads=1)
  with pytest.raises(ValueError, match="dropout_rng"):
    softmax_attention(query, key, value, dropout_rate=0.5)
  keys = jax.random.split(jax.random.key(0), 2000)
  dropped = jax.vmap(
      lambda r: softmax_attention(query, key, value, dropout_rate=0.5, dropout_rng=r,
                                  broadcast_dropout=False)
  )(keys)
  np.testing.assert_allclose(dropped.mean(0), softmax_attention(query, key, value), atol=0.1)


def test_linear_attention_matches_explicit_kernel_weights():
  query, key, value = gaussian_qkv(4, v_dim=3)
  feature = lambda x: np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))
  similarity = np.einsum(
      "...qhd,...khd->...hqk", feature(np.asarray(query, np.float64)), feature(np.asarray(key, np.float64))
  )
  weights = similarity / similarity.sum(-1, keepdims=True)
  expected = np.einsum("...hqk,...khv->...qhv", weights, np.asarray(value, np.float64))
  np.testing.assert_allclose(linear_attention(query, key, value), expected, atol=1e-5)


@pytest.mark.parametrize("orthogonal", [False, True])
def test_performer_converges_to_softmax_with_many_features(orthogonal):
  # The estimator's variance grows like exp(|q|² + |k|²); keep the norms small.
  query, key, value = gaussian_qkv(5, batch=(1,), kv_len=32, head_dim=8)
  query, key = 0.4 * query, 0.4 * key
  exact = softmax_attention(query, key, value)
  errors = []
  for num_features in (16, 4096):
    features = performer_features(jax.random.key(1), num_features, 8, orthogonal=orthogonal)
    approx = performer_attention(query, key, value, features=features)
    errors.append(float(jnp.abs(approx - exact).mean()))
  assert errors[1] < 0.01 and errors[1] < errors[0] / 4, errors


def test_performer_features_are_orthogonal_within_blocks():
  features = np.asarray(performer_features(jax.random.key(2), 16, 8))
  directions = features / np.linalg.norm(features, axis=-1, keepdims=True)
  gram = directions[:8] @ directions[:8].T
  np.testing.assert_allclose(gram, np.eye(8), atol=1e-5)


def test_performer_requires_features_or_a_key():
  query, key, value = gaussian_qkv(6)
  with pytest.raises(ValueError, match="feature_key"):
    performer_attention(query, key, value)
  with pytest.raises(ValueError, match="num_features, head_dim"):
    performer_attention(query, key, value, features=jnp.ones((4, 3)))


def test_taylor_is_eala_with_theta_one():
  query, key, value = gaussian_qkv(7, score_scale=3.0)
  reference = naive_eala(query, key, value, fixed_theta=1.0).output
  weights, _ = eala_weights(query, key, fixed_theta=1.0)
  np.testing.assert_allclose(taylor_attention(query, key, value), reference, atol=2e-5)
  scores = reference_scores(query, key)
  centred = scores - scores.mean(-1, keepdims=True)
  np.testing.assert_allclose(weights, (1 + centred) / key.shape[-3], atol=1e-5)


@pytest.mark.parametrize("kind", sorted(ATTENTION_FUNCTIONS))
def test_every_kind_applies_its_materialised_weights(kind):
  query, key, value = gaussian_qkv(8, batch=(1,), v_dim=3)
  keep = np.arange(key.shape[-3]) % 5 != 0
  mask = jnp.asarray(keep)[None, None, None, :]
  options = OPTIONS.get(kind, {})
  weights = attention_weights(query, key, kind=kind, mask=mask, **options)
  chex.assert_shape(weights, (1, 2, query.shape[-3], key.shape[-3]))
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(weights)[..., ~keep], 0.0)
  output = get_attention_fn(kind, **options)(query, key, value, mask=mask)
  np.testing.assert_allclose(output, jnp.einsum("bhqk,bkhv->bqhv", weights, value), atol=2e-5)


@pytest.mark.parametrize("kind", sorted(ATTENTION_FUNCTIONS))
def test_every_kind_is_robust(kind):
  fn = get_attention_fn(kind, **OPTIONS.get(kind, {}))
  query, key, value = gaussian_qkv(9, score_scale=100.0)
  chex.assert_tree_all_finite(fn(query, key, value))
  empty = jnp.zeros((1, 1, 1, key.shape[-3]), bool)
  np.testing.assert_array_equal(fn(query, key, value, mask=empty), 0.0)
  one = gaussian_qkv(10, kv_len=1)
  np.testing.assert_allclose(fn(*one), jnp.broadcast_to(one[2], fn(*one).shape), atol=1e-5)
  bf16 = gaussian_qkv(11, dtype=jnp.bfloat16)
  out = fn(*bf16)
  assert out.dtype == jnp.bfloat16
  chex.assert_tree_all_finite(out)
  grads = jax.grad(lambda q, k, v: jnp.sum(fn(q, k, v) ** 2), (0, 1, 2))(*gaussian_qkv(12))
  chex.assert_tree_all_finite(grads)


@pytest.mark.parametrize("kind", ["linear", "performer", "taylor"])
def test_linear_kinds_reject_biases_and_pairwise_masks(kind):
  fn = get_attention_fn(kind, **OPTIONS.get(kind, {}))
  query, key, value = gaussian_qkv(13)
  with pytest.raises(ValueError, match="cannot be linearised"):
    fn(query, key, value, bias=jnp.zeros((16, 24)))
  with pytest.raises(ValueError, match="varies along the query axis"):
    fn(query, key, value, mask=jnp.eye(16, 24, dtype=bool))


def test_unknown_kind_is_named():
  with pytest.raises(ValueError, match="unknown kind='flash'"):
    get_attention_fn("flash")
  query, key, _ = gaussian_qkv(14)
  with pytest.raises(ValueError, match="do not apply to kind 'linear'"):
    attention_weights(query, key, kind="linear", estimator="cumulant2")
