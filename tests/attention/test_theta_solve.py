"""θ solves: the fourth-order match against the exact entropy of the weights it makes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.attention import (
    chunk_eala, eala_attention, eala_weights, naive_eala, parallel_eala,
)
from entropy_attention_jax.attention.eala import recurrent_eala, theta as theta_lib
from entropy_attention_jax.entropy import ScoreMoments
from entropy_attention_jax.nn import EntropyLinearAttention
from tests.conftest import gaussian_qkv, reference_entropy, reference_scores
from flax import nnx


def gaussian_scores(seed, length, sigma, draws):
  """Query/key whose scores (scale 1) are Gaussian samples with spread exactly σ.

  head_dim 1: each draw is one query over `length` Gaussian keys; the query is
  σ / std(keys), so the sample standard deviation of the scores is σ.
  """
  rng = np.random.default_rng(seed)
  key = rng.standard_normal((draws, length, 1, 1))
  query = sigma / key.std(axis=1, keepdims=True)[:, :1]
  return jnp.asarray(query, jnp.float32), jnp.asarray(key, jnp.float32)


def weight_entropy(weights):
  """Exact entropy of non-negative weights `[..., kv_len]` (float64), NaN if any is < 0."""
  w = np.asarray(weights, np.float64)
  entropy = -np.sum(np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0), -1)
  return np.where(np.all(w >= 0, -1), entropy, np.nan)


def entropy_gaps(length, sigma, estimator, theta_solve, draws=400, seed=0):
  query, key = gaussian_scores(seed, length, sigma, draws)
  weights, aux = eala_weights(
      query, key, scale=1.0, estimator=estimator, theta_solve=theta_solve)
  exact = reference_entropy(reference_scores(query, key, scale=1.0))[..., 0, 0]
  gap = weight_entropy(weights)[..., 0, 0] - exact
  return gap, np.asarray(aux.theta)[..., 0, 0] * sigma


@pytest.mark.parametrize("length", [16, 64, 256])
def test_fourth_order_weights_match_the_softmax_entropy_where_nonnegative(length):
  # Gaussian scores; rows whose weights are all >= 0. With κ₃ (cumulant3) the
  # fourth-order solve is within 0.05 nats of the exact softmax entropy on
  # every such row, and closer on average than the second-order solve.
  for sigma in (0.1, 0.2, 0.3, 0.4, 0.5):
    gap4, t = entropy_gaps(length, sigma, "cumulant3", "fourth_order")
    gap2, _ = entropy_gaps(length, sigma, "cumulant3", "second_order")
    rows = ~np.isnan(gap4)
    if rows.sum() < 20:
      continue  # weights negative almost everywhere at this spread: entropy undefined
    assert np.max(np.abs(gap4[rows])) < 0.05, (length, sigma, np.max(np.abs(gap4[rows])))
    both = rows & ~np.isnan(gap2)
    if sigma >= 0.2:
      assert np.mean(np.abs(gap4[both])) < 0.75 * np.mean(np.abs(gap2[both])), (length, sigma)
    assert np.all(t[rows] < 1.0)


def test_fourth_order_removes_the_bias_of_the_second_order_match():
  # Without κ₃ (cumulant2): H(w) − H_softmax is biased low by ≈ t⁴/4 for the
  # second-order solve; the fourth-order one removes most of it.
  gap2, _ = entropy_gaps(64, 0.35, "cumulant2", "second_order", draws=1000)
  gap4, _ = entropy_gaps(64, 0.35, "cumulant2", "fourth_order", draws=1000)
  both = ~np.isnan(gap2) & ~np.isnan(gap4)
  assert both.mean() > 0.5
  assert np.mean(gap2[both]) < -0.002
  assert abs(np.mean(gap4[both])) < 0.4 * abs(np.mean(gap2[both]))


@pytest.mark.parametrize("skew", [None, -5.0, -1.0, 0.0, 0.7, 2.5])
def test_fourth_order_theta_solves_its_series(skew):
  variance = jnp.asarray([1e-3, 0.04, 0.25, 1.0, 4.0, 25.0])
  count = jnp.full(variance.shape, 100.0)
  third = None if skew is None else skew * variance**1.5
  moments = ScoreMoments(count, variance, third)
  target = jnp.log(count) - jnp.asarray([0.0005, 0.02, 0.1, 0.4, 1.5, 4.0])
  theta = theta_lib.fourth_order_theta(target, moments)
  t = np.asarray(theta * jnp.sqrt(variance), np.float64)
  gamma = 0.0 if skew is None else np.clip(skew, -3, 3)
  series = t**2 / 2 - gamma * t**3 / 6 + t**4 / 4
  np.testing.assert_allclose(series, np.log(100.0) - np.asarray(target), rtol=2e-4, atol=1e-6)
  # Second order would give θ = 1 for Ĥ = log L − σ²/2; fourth order is flatter.
  plain = theta_lib.fourth_order_theta(jnp.log(count) - variance / 2, ScoreMoments(count, variance))
  assert np.all(np.asarray(plain) < 1.0)


@pytest.mark.parametrize("estimator", ["cumulant2", "gaussian_ensemble", "cumulant3"])
def test_every_form_gives_the_same_fourth_order_attention(estimator):
  query, key, value = gaussian_qkv(3, batch=(1,), q_len=13, kv_len=13, score_scale=1.5)
  options = dict(estimator=estimator, theta_solve="fourth_order")
  ref = naive_eala(query, key, value, **options)
  fast = parallel_eala(query, key, value, **options)
  np.testing.assert_allclose(fast.output, ref.output, atol=3e-5)
  np.testing.assert_allclose(fast.aux.theta, ref.aux.theta, rtol=1e-3, atol=1e-5)
  fast = fast.output
  causal_ref = naive_eala(query, key, value, causal=True, **options).output
  chunked = chunk_eala(query, key, value, chunk_size=4, **options).output
  stepped = recurrent_eala(query, key, value, **options).output
  np.testing.assert_allclose(chunked, causal_ref, atol=5e-5)
  np.testing.assert_allclose(stepped, causal_ref, atol=5e-5)
  second = eala_attention(query, key, value, estimator=estimator)
  assert not np.allclose(np.asarray(second), np.asarray(fast), atol=1e-4)


@pytest.mark.parametrize("estimator", ["cumulant2", "cumulant3"])
def test_fourth_order_gradients_are_finite_at_zero_spread(estimator):
  query, key, value = gaussian_qkv(4, batch=(1,))
  query = query.at[0, :3].set(0.0)  # σ = 0 rows
  key_flat = key.at[0, 5:].set(key[0, 4])  # many equal keys

  def loss(q, k, v):
    return jnp.sum(eala_attention(q, k, v, estimator=estimator, theta_solve="fourth_order") ** 2)

  for k in (key, key_flat):
    grads = jax.grad(loss, argnums=(0, 1, 2))(query, k, value)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


def test_fourth_order_gradient_matches_finite_differences():
  query, key, value = gaussian_qkv(5, batch=(1,), q_len=4, kv_len=9, score_scale=1.2)
  fn = functools.partial(eala_attention, estimator="cumulant3", theta_solve="fourth_order")
  loss = lambda q: jnp.sum(fn(q.astype(jnp.float64) if False else q, key, value) * value[:, :4])
  grad = jax.grad(loss)(query)
  direction = jnp.asarray(np.random.default_rng(0).standard_normal(query.shape), jnp.float32)
  eps = 1e-2
  numeric = (loss(query + eps * direction) - loss(query - eps * direction)) / (2 * eps)
  np.testing.assert_allclose(float(jnp.vdot(grad, direction)), float(numeric), rtol=2e-2, atol=2e-3)


def test_unknown_theta_solve_is_one_clear_error():
  query, key, value = gaussian_qkv(6)
  with pytest.raises(ValueError, match="theta_solve must be one of"):
    eala_attention(query, key, value, theta_solve="sixth_order")


def test_layer_accepts_theta_solve():
  layer = EntropyLinearAttention(
      2, 16, attention="eala", rngs=nnx.Rngs(0),
      attention_options={"theta_solve": "fourth_order", "estimator": "cumulant3"},
  )
  out = layer(jnp.ones((1, 7, 16)) * jnp.arange(7.0)[None, :, None] / 7)
  assert out.shape == (1, 7, 16) and np.all(np.isfinite(np.asarray(out)))


def test_theta_solve_reaches_the_model_config_and_the_cli_overrides():
  from entropy_attention_jax import training
  from entropy_attention_jax.models import ELinFormer, ELinFormerConfig

  config = training.get_config(
      "synthetic_traffic", overlays=["tiny"],
      overrides=["model.attention_options.theta_solve=fourth_order"],
  )
  assert config.model["attention_options"] == {"theta_solve": "fourth_order"}
  model = ELinFormer(
      ELinFormerConfig(num_nodes=3, in_steps=4, out_steps=2, tod_embedding_dim=0,
                       dow_embedding_dim=0, adaptive_embedding_dim=0, input_embedding_dim=8,
                       num_heads=2, num_temporal_layers=1, num_spatial_layers=1,
                       attention_options={"theta_solve": "fourth_order"}),
      rngs=nnx.Rngs(0),
  )
  out = model(jnp.ones((1, 4, 3, 3)) * jnp.arange(3.0), deterministic=True)
  assert np.all(np.isfinite(np.asarray(out)))
  with pytest.raises(ValueError, match="theta_solve must be one of"):
    ELinFormer(ELinFormerConfig(num_nodes=3, in_steps=4, out_steps=2, input_embedding_dim=8,
                                tod_embedding_dim=0, dow_embedding_dim=0,
                                adaptive_embedding_dim=0, num_heads=2,
                                attention_options={"theta_solve": "cubic"}),
               rngs=nnx.Rngs(0))(jnp.ones((1, 4, 3, 3)), deterministic=True)
