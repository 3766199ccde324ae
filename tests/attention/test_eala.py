"""EALA: the linear-time form against the explicit weights, and their properties."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.attention import (
    attention_weights,
    eala_attention,
    eala_weights,
    naive_eala,
    parallel_eala,
)
from entropy_attention_jax.entropy import ESTIMATORS, approx_entropy, softmax_entropy
from tests.conftest import gaussian_qkv, reference_entropy, reference_scores

ESTIMATOR_NAMES = sorted(ESTIMATORS)


def key_mask_of(keep, heads=2):
  """A `[batch=1, heads, kv_len]` key mask from a boolean vector."""
  return jnp.broadcast_to(jnp.asarray(keep), (1, heads, len(keep)))


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_linear_time_output_equals_explicit_weights(estimator, nonneg, masked):
  query, key, value = gaussian_qkv(0, batch=(1,), v_dim=5, score_scale=2.0)
  key_mask = key_mask_of(np.arange(key.shape[-3]) % 3 != 2) if masked else None
  options = dict(estimator=estimator, nonneg=nonneg)
  fast, fast_aux, _ = jax.jit(functools.partial(parallel_eala, **options))(
      query, key, value, key_mask=key_mask)
  reference, ref_aux, _ = jax.jit(functools.partial(naive_eala, **options))(
      query, key, value, key_mask=key_mask)
  weights, _ = eala_weights(query, key, key_mask=key_mask, **options)
  np.testing.assert_allclose(fast, reference, atol=2e-5)
  np.testing.assert_allclose(fast_aux.theta, ref_aux.theta, rtol=1e-3, atol=1e-5)
  # The reference really is the weights applied to the values.
  explicit = np.einsum("bhqk,bkhv->bqhv", np.asarray(weights, np.float64), np.asarray(value, np.float64))
  np.testing.assert_allclose(reference, explicit, atol=1e-5)


@pytest.mark.parametrize("score_scale", [0.5, 2.0, 10.0])
def test_weights_sum_to_one_and_keep_the_softmax_ranking(score_scale):
  query, key, _ = gaussian_qkv(1, score_scale=score_scale)
  weights = np.asarray(attention_weights(query, key, kind="eala"), np.float64)
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
  scores = reference_scores(query, key)
  # Linear in the scores with θ > 0: same order as softmax (up to float ties).
  order = np.argsort(scores, -1)
  assert np.all(np.diff(np.take_along_axis(weights, order, -1), axis=-1) >= -1e-6)


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
@pytest.mark.parametrize("score_scale", [1.0, 5.0, 100.0])
def test_nonneg_weights_are_nonnegative(estimator, score_scale):
  query, key, _ = gaussian_qkv(2, score_scale=score_scale)
  weights = attention_weights(query, key, kind="eala", estimator=estimator, nonneg=True)
  assert float(weights.min()) >= -1e-6
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
def test_weight_entropy_matches_the_target_at_moderate_spread(estimator):
  # With moderate spread the second-order entropy of the linear weights is
  # accurate, so H(w) ≈ Ĥ ≈ H(softmax). (Entropy needs every w > 0.)
  query, key, _ = gaussian_qkv(3, q_len=32, kv_len=128, head_dim=16, score_scale=0.2)
  weights = np.asarray(attention_weights(query, key, kind="eala", estimator=estimator), np.float64)
  assert weights.min() > 0
  weight_entropy = -np.sum(weights * np.log(weights), -1)  # [batch, heads, q_len]
  target = np.swapaxes(approx_entropy(query, key, estimator=estimator), -1, -2)
  exact = np.swapaxes(softmax_entropy(query, key), -1, -2)
  assert np.mean(np.abs(weight_entropy - target)) < 0.02
  assert np.mean(np.abs(weight_entropy - exact)) < 0.05


def test_theta_is_one_where_cumulant2_is_unclamped():
  # H(w) ≈ log L − θ²σ²/2 and Ĥ = log L − σ²/2 give θ* = 1: in its own regime
  # the second-order EALA coincides with Taylor attention.
  query, key, value = gaussian_qkv(4, score_scale=0.5)
  aux = parallel_eala(query, key, value).aux
  np.testing.assert_allclose(aux.theta, 1.0, rtol=1e-4)


def test_theta_shrinks_when_the_target_is_clamped():
  query, key, value = gaussian_qkv(5, kv_len=8, score_scale=20.0)
  aux = parallel_eala(query, key, value).aux
  assert float(aux.theta.max()) < 1.0
  np.testing.assert_array_equal(aux.entropy_target, 0.0)


def test_key_padding_mask_equals_dropping_keys():
  query, key, value = gaussian_qkv(6, batch=(1,))
  keep = np.arange(key.shape[-3]) % 2 == 0
  mask = jnp.asarray(keep)[None, None, None, :]
  for options in (dict(), dict(nonneg=True, estimator="gaussian_ensemble")):
    masked = eala_attention(query, key, value, mask=mask, **options)
    dropped = eala_attention(query, key[:, keep], value[:, keep], **options)
    np.testing.assert_allclose(masked, dropped, atol=2e-5)


def test_all_keys_masked_gives_zeros_and_finite_gradients():
  query, key, value = gaussian_qkv(7)
  mask = jnp.zeros((1, 1, 1, key.shape[-3]), bool)
  np.testing.assert_array_equal(eala_attention(query, key, value, mask=mask), 0.0)
  loss = lambda q, k, v: jnp.sum(eala_attention(q, k, v, mask=mask, nonneg=True) ** 2)
  chex.assert_tree_all_finite(jax.grad(loss, (0, 1, 2))(query, key, value))


def test_heads_with_and_without_valid_keys():
  query, key, value = gaussian_qkv(8, batch=(1,))
  mask = jnp.asarray([True, False])[None, :, None, None] & jnp.ones((1, 2, 1, key.shape[-3]), bool)
  out = eala_attention(query, key, value, mask=mask)
  np.testing.assert_array_equal(out[..., 1, :], 0.0)
  np.testing.assert_allclose(out[..., 0, :], eala_attention(query, key, value)[..., 0, :], atol=1e-6)


def test_single_key_returns_its_value():
  query, key, value = gaussian_qkv(9, kv_len=1)
  out = eala_attention(query, key, value)
  np.testing.assert_allclose(out, jnp.broadcast_to(value, out.shape), atol=1e-6)


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
def test_huge_scores_are_finite(estimator):
  query, key, value = gaussian_qkv(10, score_scale=100.0)
  for nonneg in (False, True):
    out = eala_attention(query, key, value, estimator=estimator, nonneg=nonneg)
    chex.assert_tree_all_finite(out)
    grads = jax.grad(lambda q: eala_attention(q, key, value, estimator=estimator).sum())(query)
    chex.assert_tree_all_finite(grads)


def test_bfloat16_inputs_give_finite_bfloat16_outputs():
  query, key, value = gaussian_qkv(11, dtype=jnp.bfloat16)
  for estimator in ESTIMATOR_NAMES:
    out = eala_attention(query, key, value, estimator=estimator)
    assert out.dtype == jnp.bfloat16
    chex.assert_tree_all_finite(out)
    reference = eala_attention(*(x.astype(jnp.float32) for x in (query, key, value)), estimator=estimator)
    np.testing.assert_allclose(out.astype(jnp.float32), reference, atol=0.05)


def test_dtype_argument_sets_the_output_dtype():
  query, key, value = gaussian_qkv(12)
  assert eala_attention(query, key, value, dtype=jnp.bfloat16).dtype == jnp.bfloat16


class TransformsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_variants_agree(self):
    query, key, value = gaussian_qkv(13)
    fn = self.variant(functools.partial(eala_attention, estimator="gaussian_ensemble"))
    np.testing.assert_allclose(
        fn(query, key, value),
        naive_eala(query, key, value, estimator="gaussian_ensemble")[0],
        atol=2e-5,
    )

  def test_vmap_equals_folding_into_batch(self):
    query, key, value = gaussian_qkv(14, batch=(3, 2))
    mapped = jax.vmap(eala_attention)(query, key, value)
    np.testing.assert_allclose(mapped, eala_attention(query, key, value), atol=1e-6)

  def test_checkpoint_and_grad(self):
    query, key, value = gaussian_qkv(15)
    loss = lambda q, k, v: jnp.sum(jax.checkpoint(eala_attention)(q, k, v) ** 2)
    plain = lambda q, k, v: jnp.sum(eala_attention(q, k, v) ** 2)
    chex.assert_trees_all_close(
        jax.grad(loss, (0, 1, 2))(query, key, value),
        jax.grad(plain, (0, 1, 2))(query, key, value),
        atol=1e-5,
    )


@pytest.mark.parametrize("estimator", ESTIMATOR_NAMES)
@pytest.mark.parametrize("nonneg", [False, True])
def test_gradients_match_finite_differences(estimator, nonneg):
  query, key, value = gaussian_qkv(16, batch=(), q_len=3, kv_len=6, heads=1, head_dim=4, v_dim=2, score_scale=1.5)
  fn = lambda q, k, v: eala_attention(
      q.astype(jnp.float32), k.astype(jnp.float32), v.astype(jnp.float32),
      estimator=estimator, nonneg=nonneg,
  )
  as64 = lambda x: np.asarray(x, np.float64)
  jax.test_util.check_grads(
      fn, (as64(query), as64(key), as64(value)), order=1, modes=("rev",),
      atol=2e-2, rtol=2e-2, eps=1e-3,
  )


def test_gradients_match_the_explicit_form():
  query, key, value = gaussian_qkv(17, batch=(1,), score_scale=1.5)
  cotangent = jax.random.normal(jax.random.key(0), query.shape[:-1] + value.shape[-1:])
  pullback = lambda f: jax.jit(lambda *a: jax.vjp(f, *a)[1](cotangent))
  fast = pullback(lambda *a: parallel_eala(*a, nonneg=True)[0])(query, key, value)
  slow = pullback(lambda *a: naive_eala(*a, nonneg=True)[0])(query, key, value)
  for name, got, want in zip("qkv", fast, slow):
    np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"d{name}")


def test_theta_scale_sharpens_and_flattens():
  query, key, _ = gaussian_qkv(18, score_scale=0.1)
  weights = {
      s: np.asarray(attention_weights(query, key, kind="eala", theta_scale=s), np.float64)
      for s in (0.5, 1.0, 1.5)
  }
  assert all(w.min() > 0 for w in weights.values())
  entropy = {s: -np.sum(w * np.log(w), -1).mean() for s, w in weights.items()}
  assert entropy[1.5] < entropy[1.0] < entropy[0.5]


class _Recorder:
  """Stands in for a Linen module's `sow` (the NNX path is tested with Flax)."""

  def __init__(self):
    self.sown = {}

  def sow(self, collection, name, value):
    self.sown[(collection, name)] = value


def test_module_receives_theta_and_entropy_target():
  query, key, value = gaussian_qkv(19)
  recorder = _Recorder()
  eala_attention(query, key, value, module=recorder)
  assert set(recorder.sown) == {("intermediates", "theta"), ("intermediates", "entropy_target")}
  chex.assert_shape(recorder.sown[("intermediates", "theta")], query.shape[:-1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(bias=jnp.zeros((16, 24))), "bias .* cannot be linearised"),
        (dict(mask=jnp.eye(16, 24, dtype=bool)), "varies along the query axis.*cannot be linearised"),
        (dict(mask=jnp.ones((3, 1, 24), bool)), "does not broadcast"),
        (dict(estimator="nope"), "unknown entropy estimator"),
        (dict(dropout_rate=0.1), "needs a dropout_rng"),
        (dict(dropout_rate=0.1, dropout_mode="weights"), "dropout_mode must be"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
  query, key, value = gaussian_qkv(20)
  with pytest.raises(ValueError, match=match):
    eala_attention(query, key, value, **kwargs)


def test_value_shape_mismatch_is_named():
  query, key, value = gaussian_qkv(21)
  with pytest.raises(ValueError, match="value .* must match key"):
    eala_attention(query, key, value[..., :-1, :, :])


def test_dropout_is_allowed_when_deterministic():
  query, key, value = gaussian_qkv(22)
  out = eala_attention(query, key, value, dropout_rate=0.1, deterministic=True)
  np.testing.assert_allclose(out, eala_attention(query, key, value))


def test_reference_entropy_helper_is_consistent():
  # Guards the float64 helper the other tests trust.
  scores = np.log(np.array([[1.0, 1.0, 2.0]]))
  p = np.array([0.25, 0.25, 0.5])
  np.testing.assert_allclose(reference_entropy(scores), [-(p * np.log(p)).sum()])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("options", [dict(), dict(nonneg=True, estimator="cumulant3")])
def test_quadratic_and_linear_forms_agree(causal, options):
  query, key, value = gaussian_qkv(23, q_len=20, kv_len=20, v_dim=5, score_scale=1.5)
  mask = jnp.asarray(np.arange(20) % 4 != 1)[None, None, None, :]
  outputs = {
      form: eala_attention(query, key, value, mask=mask, causal=causal, form=form, **options)
      for form in ("linear", "quadratic")
  }
  np.testing.assert_allclose(outputs["quadratic"], outputs["linear"], atol=2e-5)


def test_automatic_form_is_quadratic_only_for_short_sequences():
  from entropy_attention_jax.attention.eala.forms import choose_form

  assert choose_form(None, 12, 12, 38, "f") == "quadratic"  # ELinFormer's time axis
  assert choose_form(None, 170, 170, 38, "f") == "linear"  # its node axis
  assert choose_form("linear", 12, 12, 38, "f") == "linear"
  with pytest.raises(ValueError, match="form must be"):
    choose_form("flash", 12, 12, 38, "f")


@pytest.mark.parametrize("form", ["linear", "quadratic"])
def test_released_implementation_spelling_still_picks_the_form(form):
  query, key, value = gaussian_qkv(24, q_len=10, kv_len=10)
  with pytest.warns(DeprecationWarning, match=f"form={form!r}"):
    old = eala_attention(query, key, value, implementation=form)
  np.testing.assert_array_equal(old, eala_attention(query, key, value, form=form))
  with pytest.raises(ValueError, match="disagree"), pytest.warns(DeprecationWarning):
    eala_attention(query, key, value, form="linear" if form == "quadratic" else "quadratic",
                   implementation=form)
  with pytest.raises(ValueError, match="implementation must be one of"):
    eala_attention(query, key, value, implementation="cudnn")
