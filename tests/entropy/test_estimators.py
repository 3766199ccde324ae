"""Linear-time entropy estimators against the exact softmax entropy."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.entropy import (
    ESTIMATORS,
    EntropyEstimator,
    approx_entropy,
    ensemble,
    key_statistics,
    score_moments,
    softmax_entropy,
)
from entropy_attention_jax.entropy.estimators import cumulant2_entropy
from tests.conftest import gaussian_qkv, reference_scores


def mean_error(query, key, estimator, **kwargs):
  exact = softmax_entropy(query, key, **kwargs)
  return float(jnp.mean(jnp.abs(approx_entropy(query, key, estimator=estimator, **kwargs) - exact)))


def test_score_moments_from_key_statistics_equal_explicit_moments():
  query, key, _ = gaussian_qkv(0, batch=(1,))
  keep = np.arange(key.shape[-3]) % 4 != 1
  key_mask = jnp.broadcast_to(jnp.asarray(keep), (1, key.shape[-2], key.shape[-3]))
  moments = score_moments(
      query, key_statistics(key, key_mask, third_moment=True), query.shape[-1] ** -0.5
  )
  scores = reference_scores(query, key)[..., keep]  # [batch, heads, q_len, valid]
  centred = scores - scores.mean(-1, keepdims=True)
  to_query_major = lambda x: np.swapaxes(x, -1, -2)
  np.testing.assert_allclose(moments.count, keep.sum())
  np.testing.assert_allclose(moments.variance, to_query_major((centred**2).mean(-1)), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(
      moments.third_cumulant, to_query_major((centred**3).mean(-1)), rtol=1e-3, atol=1e-5
  )


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
@pytest.mark.parametrize("score_scale", [0.3, 3.0, 100.0])
def test_estimates_lie_in_zero_to_log_length(estimator, score_scale):
  query, key, _ = gaussian_qkv(1, score_scale=score_scale)
  got = approx_entropy(query, key, estimator=estimator)
  chex.assert_shape(got, query.shape[:-1])
  chex.assert_tree_all_finite(got)
  assert float(got.min()) >= 0.0
  assert float(got.max()) <= np.log(key.shape[-3]) + 1e-5


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_every_estimator_is_accurate_for_small_spread(estimator):
  query, key, _ = gaussian_qkv(2, q_len=32, kv_len=64, head_dim=16, score_scale=0.3)
  assert mean_error(query, key, estimator) < 0.01


def test_gaussian_ensemble_beats_cumulant2_when_peaked():
  # σ ≈ 3 with L = 128: σ² = 9 > log L ≈ 4.9, the peaked regime.
  query, key, _ = gaussian_qkv(3, q_len=64, kv_len=128, heads=2, head_dim=32, score_scale=3.0)
  ensemble_error = mean_error(query, key, "gaussian_ensemble")
  cumulant2_error = mean_error(query, key, "cumulant2")
  assert ensemble_error < 0.6 * cumulant2_error, (ensemble_error, cumulant2_error)


def test_cumulant3_helps_with_skewed_keys():
  rng = np.random.default_rng(4)
  key = jnp.asarray(rng.exponential(1.0, (1, 256, 2, 8)) - 1.0, jnp.float32)
  query = jnp.asarray(rng.standard_normal((1, 64, 2, 8)), jnp.float32)
  assert mean_error(query, key, "cumulant3") < 0.85 * mean_error(query, key, "cumulant2")


@pytest.mark.parametrize("keys", ["gaussian", "exponential"])
@pytest.mark.parametrize("scale", [3.0, 10.0, 1000.0])
def test_cumulant3_does_not_saturate_on_peaked_scores(keys, scale):
  # Issue 15, item 10: a large negative κ₃ pushed the estimate to log L
  # (uniform weights) for sharp softmaxes.
  rng = np.random.default_rng(6)
  query = rng.standard_normal((1, 128, 1, 16))
  key = rng.standard_normal((1, 256, 1, 16)) if keys == "gaussian" else rng.exponential(
      1.0, (1, 256, 1, 16)) - 1.0
  query, key = (jnp.asarray(x * scale, jnp.float32) for x in (query, key))
  exact = np.asarray(softmax_entropy(query, key))
  estimate = np.asarray(approx_entropy(query, key, estimator="cumulant3"))
  peaked = exact < 0.5 * np.log(256)
  assert peaked.mean() > 0.9
  assert not np.any(estimate[peaked] >= 0.99 * np.log(256))
  assert mean_error(query, key, "cumulant3") <= mean_error(query, key, "cumulant2") + 1e-3


def test_all_keys_masked_gives_zero():
  query, key, _ = gaussian_qkv(5)
  mask = jnp.zeros(key.shape[-3], bool)
  for name in ESTIMATORS:
    np.testing.assert_array_equal(approx_entropy(query, key, estimator=name, mask=mask), 0.0)


def test_mask_equals_dropping_keys():
  query, key, _ = gaussian_qkv(6, batch=(1,))
  keep = np.arange(key.shape[-3]) < 17
  for name in ESTIMATORS:
    masked = approx_entropy(query, key, estimator=name, mask=jnp.asarray(keep))
    dropped = approx_entropy(query, key[:, keep], estimator=name)
    np.testing.assert_allclose(masked, dropped, atol=1e-5)


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_jit_vmap_and_grad(estimator):
  query, key, _ = gaussian_qkv(7, batch=(3,), score_scale=1.5)
  fn = lambda q, k: approx_entropy(q, k, estimator=estimator)
  eager = fn(query, key)
  np.testing.assert_allclose(jax.jit(fn)(query, key), eager, atol=1e-5)
  np.testing.assert_allclose(jax.vmap(fn)(query, key), eager, atol=1e-5)
  grads = jax.grad(lambda q, k: fn(q, k).sum(), (0, 1))(query, key)
  chex.assert_tree_all_finite(grads)


def test_bfloat16_inputs_are_finite():
  query, key, _ = gaussian_qkv(8, dtype=jnp.bfloat16)
  for name in ESTIMATORS:
    chex.assert_tree_all_finite(approx_entropy(query, key, estimator=name))


def test_unknown_estimator_lists_the_known_ones():
  query, key, _ = gaussian_qkv(9)
  with pytest.raises(ValueError, match="unknown entropy estimator 'cumulant9'.*cumulant2"):
    approx_entropy(query, key, estimator="cumulant9")


def test_custom_estimator_objects_are_accepted():
  half = EntropyEstimator("half", lambda m: 0.5 * cumulant2_entropy(m))
  query, key, _ = gaussian_qkv(10)
  np.testing.assert_allclose(
      approx_entropy(query, key, estimator=half),
      0.5 * approx_entropy(query, key, estimator="cumulant2"),
      rtol=1e-6,
  )


class TestEnsembleTable:

  def test_shipped_table_agrees_with_fresh_monte_carlo(self):
    shipped = ensemble.load_table()
    sigmas = np.array([0.0, 1.0, 2.5], np.float32)
    lengths = np.array([1, 16, 128])
    fresh = ensemble.generate_table(
        sigmas, lengths, elements_per_length=2**19, max_draws=4096, seed=123
    )
    got = ensemble.expected_entropy(sigmas[:, None], lengths[None, :].astype(np.float32))
    tolerance = 5 * fresh.std_error + 5 * ensemble.expected_entropy_std_error(
        sigmas[:, None], lengths[None, :]
    ) + 1e-4
    assert np.all(np.abs(np.asarray(got) - fresh.entropy) <= tolerance)

  def test_small_spread_limit_is_second_order(self):
    sigma = jnp.asarray([0.05, 0.1])
    for length in (16.0, 1000.0):
      np.testing.assert_allclose(
          ensemble.expected_entropy(sigma, length), np.log(length) - sigma**2 / 2, atol=2e-3
      )

  def test_edge_cases_and_extrapolation_are_continuous(self):
    table = ensemble.load_table()
    top_length = float(table.lengths[-1])
    top_sigma = float(table.sigmas[-1])
    h = lambda s, n: float(ensemble.expected_entropy(jnp.float32(s), jnp.float32(n)))
    assert h(1.0, 0.0) == 0.0 and h(1.0, 1.0) == 0.0
    assert abs(h(2.0, top_length) - h(2.0, top_length * 1.0001)) < 1e-3
    assert abs(h(top_sigma, 100.0) - h(top_sigma * 1.0001, 100.0)) < 1e-3
    # Larger spread, lower entropy; longer sequences, higher entropy.
    values = [h(s, 500.0) for s in np.linspace(0, 30, 61)]
    assert np.all(np.diff(values) <= 1e-6)
    assert h(2.0, 1e6) > h(2.0, top_length)
