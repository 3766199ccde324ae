"""Issue 15, items 7-9: finite gradients, padding that cannot leak, clear state errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import entropy_attention_jax as eaj
from entropy_attention_jax.attention import eala_step, get_attention_fn, init_eala_state
from tests.conftest import gaussian_qkv

OPTIONS = {"performer": dict(feature_key=jax.random.key(3), num_features=32)}


@pytest.mark.parametrize("nonneg", [True, "centered"])
@pytest.mark.parametrize("form", ["linear", "quadratic"])
def test_nonneg_gradients_are_finite_at_zero_queries_and_keys(nonneg, form):
  zeros = jnp.zeros((1, 8, 2, 4))
  fn = functools.partial(eaj.eala_attention, nonneg=nonneg, form=form)
  grads = jax.grad(lambda q, k: fn(q, k, zeros + 1).sum(), (0, 1))(zeros, zeros)
  chex.assert_tree_all_finite(grads)


@pytest.mark.parametrize("form", ["linear", "quadratic"])
def test_causal_nonneg_gradients_are_finite_at_zero_queries(form):
  zeros = jnp.zeros((1, 8, 2, 4))
  key = jax.random.normal(jax.random.key(0), zeros.shape)
  grad = jax.grad(lambda q: eaj.eala_attention(
      q, key, key, nonneg=True, causal=True, form=form).sum())(zeros)
  chex.assert_tree_all_finite(grad)


@pytest.mark.parametrize("kind", ["eala", "taylor", "linear", "performer", "softmax"])
@pytest.mark.parametrize("causal", [False, True])
def test_nan_in_masked_keys_and_values_does_not_leak(kind, causal):
  fn = functools.partial(get_attention_fn(kind, **OPTIONS.get(kind, {})), causal=causal)
  query, key, value = gaussian_qkv(1, q_len=10, kv_len=10)
  keep = jnp.asarray([[True] * 7 + [False] * 3, [True] * 5 + [False] * 5])
  mask = keep[:, None, None, :]
  poisoned = lambda x: jnp.where(keep[..., None, None], x, jnp.nan)
  loss = lambda q, k, v: jnp.sum(fn(q, k, v, mask=mask) ** 2)
  clean_out = fn(query, key, value, mask=mask)
  out = fn(query, poisoned(key), poisoned(value), mask=mask)
  np.testing.assert_allclose(out, clean_out, atol=1e-6)
  grads = jax.grad(loss, (0, 1, 2))(query, poisoned(key), poisoned(value))
  chex.assert_tree_all_finite(grads)
  clean = jax.grad(loss, (0, 1, 2))(query, key, value)
  for got, want in zip(grads, clean):
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_nan_in_a_skipped_decoding_key_does_not_leak():
  state = init_eala_state(2, 2, 4, 3)
  query, key, value = (jnp.ones((2, 2, d)) for d in (4, 4, 3))
  state = eala_step(query, key, value, initial_state=state, output_final_state=True).final_state
  out, _, state = eala_step(query, key * jnp.nan, value * jnp.nan, key_mask=jnp.zeros((2, 2), bool),
                            initial_state=state, output_final_state=True)
  chex.assert_tree_all_finite((state, out))


def test_init_eala_state_takes_an_int_batch():
  state = init_eala_state(2, 3, 4, 5)
  assert state.count.shape == (2, 3) and state.key_value_sum.shape == (2, 3, 4, 5)


@pytest.mark.parametrize(
    "shapes",
    [
        dict(key=(2, 2, 8)),  # head_dim differs from the state's
        dict(value=(2, 2, 1)),  # v_dim differs
        dict(query=(3, 2, 4), key=(3, 2, 4), value=(3, 2, 8)),  # batch differs
    ],
)
def test_eala_step_names_the_state_when_inputs_do_not_match(shapes):
  state = init_eala_state((2,), 2, 4, 8)
  arrays = {name: jnp.ones(shapes.get(name, default)) for name, default in
            (("query", (2, 2, 4)), ("key", (2, 2, 4)), ("value", (2, 2, 8)))}
  with pytest.raises(ValueError, match=r"eala_step: .*(state|head_dim)"):
    eala_step(arrays["query"], arrays["key"], arrays["value"], initial_state=state)


@pytest.mark.parametrize("estimator", ["exact", "cumulant2", "gaussian_ensemble", "cumulant3"])
def test_nan_in_masked_keys_does_not_reach_entropy_gradients(estimator):
  query, key, _ = gaussian_qkv(2, q_len=5, kv_len=8)
  keep = jnp.arange(8) < 5
  poisoned = jnp.where(keep[:, None, None], key, jnp.nan)
  fn = (functools.partial(eaj.softmax_entropy, mask=keep) if estimator == "exact"
        else functools.partial(eaj.approx_entropy, mask=keep, estimator=estimator))
  grad = jax.grad(lambda q, k: fn(q, k).sum(), (0, 1))(query, poisoned)
  chex.assert_tree_all_finite(grad)
  np.testing.assert_allclose(fn(query, poisoned), fn(query, key), atol=1e-6)
