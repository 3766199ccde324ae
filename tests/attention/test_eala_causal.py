"""Causal EALA: chunked, recurrent and explicit forms agree, and decode step by step."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.attention import (
    ATTENTION_FUNCTIONS,
    AttentionResult,
    EalaState,
    chunk_eala,
    eala_attention,
    eala_step,
    get_attention_fn,
    init_eala_state,
    init_state,
    naive_eala,
    recurrent_eala,
)
from tests.conftest import gaussian_qkv

LENGTH = 37  # not a multiple of the chunk sizes below


@pytest.fixture(scope="module")
def inputs():
  query, key, value = gaussian_qkv(0, batch=(2,), q_len=LENGTH, kv_len=LENGTH, v_dim=5, score_scale=1.5)
  key_mask = jnp.asarray(np.random.default_rng(0).random((2, 2, LENGTH)) > 0.3)
  return query, key, value, key_mask


# Every estimator and both clamps, without the full cross product (compiles dominate).
FORM_OPTIONS = [("cumulant2", False), ("cumulant2", True), ("gaussian_ensemble", True), ("cumulant3", False)]


@pytest.mark.parametrize("estimator, nonneg", FORM_OPTIONS)
def test_chunked_and_recurrent_forms_equal_the_explicit_weights(inputs, estimator, nonneg):
  query, key, value, key_mask = inputs
  options = dict(estimator=estimator, nonneg=nonneg)
  jitted = lambda f, **kw: jax.jit(functools.partial(f, **options, **kw))
  reference, reference_aux, _ = jitted(naive_eala, causal=True)(query, key, value, key_mask=key_mask)
  for chunk_size in (1, 7, 64):
    output, aux, _ = jitted(chunk_eala, chunk_size=chunk_size)(query, key, value, key_mask=key_mask)
    np.testing.assert_allclose(output, reference, atol=2e-5, err_msg=f"chunk_size={chunk_size}")
    np.testing.assert_allclose(aux.theta, reference_aux.theta, rtol=1e-3, atol=1e-5)
  output, _, _ = jitted(recurrent_eala)(query, key, value, key_mask=key_mask)
  np.testing.assert_allclose(output, reference, atol=2e-5)


@pytest.mark.parametrize("estimator, nonneg", FORM_OPTIONS + [("cumulant3", True)])
def test_row_i_equals_non_causal_attention_over_the_prefix(estimator, nonneg):
  query, key, value = gaussian_qkv(1, q_len=12, kv_len=12, score_scale=2.0)
  options = dict(estimator=estimator, nonneg=nonneg)
  causal = eala_attention(query, key, value, causal=True, chunk_size=5, **options)
  for i in (0, 1, 6, 11):
    prefix = eala_attention(query[:, i : i + 1], key[:, : i + 1], value[:, : i + 1], **options)
    np.testing.assert_allclose(causal[:, i], prefix[:, 0], atol=2e-5, err_msg=f"row {i}")


def test_flax_is_causal_keyword_is_honoured(inputs):
  query, key, value, _ = inputs
  np.testing.assert_allclose(
      eala_attention(query, key, value, is_causal=True),
      eala_attention(query, key, value, causal=True),
  )


def test_padding_mask_with_causal(inputs):
  query, key, value, key_mask = inputs
  mask = key_mask[:, :, None, :]  # Flax layout [batch, heads, 1, kv_len]
  output = eala_attention(query, key, value, mask=mask, causal=True)
  reference, _, _ = naive_eala(query, key, value, key_mask=key_mask, causal=True)
  np.testing.assert_allclose(output, reference, atol=2e-5)
  # Queries before the first valid key of their head see nothing: zeros.
  first_valid = np.argmax(np.asarray(key_mask), -1)  # [batch, heads]
  for b in range(2):
    for h in range(2):
      np.testing.assert_array_equal(output[b, : first_valid[b, h], h], 0.0)


def test_gradients_of_the_chunked_form_match_the_explicit_form(inputs):
  query, key, value, key_mask = inputs
  cotangent = jax.random.normal(jax.random.key(0), query.shape[:-1] + value.shape[-1:])
  options = dict(key_mask=key_mask, nonneg=True, estimator="gaussian_ensemble")
  pullback = lambda f: jax.jit(lambda *a: jax.vjp(f, *a)[1](cotangent))
  fast = pullback(lambda *a: chunk_eala(*a, chunk_size=7, **options)[0])(query, key, value)
  slow = pullback(lambda *a: naive_eala(*a, causal=True, **options)[0])(query, key, value)
  for name, got, want in zip("qkv", fast, slow):
    np.testing.assert_allclose(got, want, atol=2e-4, err_msg=f"d{name}")


def test_bfloat16_causal_is_finite():
  query, key, value = gaussian_qkv(2, q_len=20, kv_len=20, dtype=jnp.bfloat16)
  out = eala_attention(query, key, value, causal=True, estimator="cumulant3")
  assert out.dtype == jnp.bfloat16
  chex.assert_tree_all_finite(out)


def test_decoding_step_by_step_under_jit_and_scan(inputs):
  query, key, value, key_mask = inputs
  full = eala_attention(query, key, value, causal=True, mask=key_mask[:, :, None, :])
  @chex.assert_max_traces(n=1)
  def step(q, k, v, *, key_mask, initial_state):
    return eala_step(q, k, v, key_mask=key_mask, initial_state=initial_state, output_final_state=True)

  step = jax.jit(step)
  state = init_eala_state((2,), 2, 8, 5)
  outputs = []
  for t in range(LENGTH):
    out, _, state = step(query[:, t], key[:, t], value[:, t], key_mask=key_mask[:, :, t],
                         initial_state=state)
    outputs.append(out)
  np.testing.assert_allclose(jnp.stack(outputs, 1), full, atol=2e-5)
  # The same through lax.scan.
  def body(state, xs):
    q, k, v, m = xs
    out, _, state = eala_step(q, k, v, key_mask=m, initial_state=state, output_final_state=True)
    return state, out
  time_major = lambda x: jnp.moveaxis(x, 1, 0)
  _, scanned = jax.lax.scan(
      body, init_eala_state((2,), 2, 8, 5),
      (time_major(query), time_major(key), time_major(value), jnp.moveaxis(key_mask, -1, 0)),
  )
  np.testing.assert_allclose(time_major(scanned), full, atol=2e-5)


def test_chunked_prefill_then_decode(inputs):
  query, key, value, _ = inputs
  chunked = jax.jit(functools.partial(chunk_eala, estimator="cumulant3", chunk_size=8,
                                      output_final_state=True))
  step = jax.jit(functools.partial(eala_step, estimator="cumulant3", output_final_state=True))
  full, _, _ = chunked(query, key, value)
  split = 20
  _, _, prefill = chunked(query[:, :split], key[:, :split], value[:, :split])
  state = prefill
  for t in range(split, LENGTH):
    out, _, state = step(query[:, t], key[:, t], value[:, t], initial_state=state)
    np.testing.assert_allclose(out, full[:, t], atol=2e-5, err_msg=f"step {t}")
  rest, _, _ = chunked(query[:, split:], key[:, split:], value[:, split:], initial_state=prefill)
  np.testing.assert_allclose(rest, full[:, split:], atol=2e-5)


def test_every_causal_form_has_the_same_contract(inputs):
  query, key, value, _ = inputs
  forms = {
      "chunk_eala": functools.partial(chunk_eala, chunk_size=7),
      "recurrent_eala": recurrent_eala,
  }
  for name, form in forms.items():
    result = form(query, key, value)
    assert isinstance(result, AttentionResult) and result.final_state is None, name
    assert isinstance(form(query, key, value, output_final_state=True).final_state, EalaState)
  result = naive_eala(query, key, value, causal=True)
  assert isinstance(result, AttentionResult) and result.final_state is None
  with pytest.raises(ValueError, match="carries no state"):
    naive_eala(query, key, value, causal=True, output_final_state=True)
  step = eala_step(query[:, 0], key[:, 0], value[:, 0], output_final_state=True)
  np.testing.assert_allclose(step.output, chunk_eala(query[:, :1], key[:, :1], value[:, :1])[0][:, 0])
  assert step.aux.theta.shape == (2, 2) and isinstance(step.final_state, EalaState)


def test_old_call_orders_fail_or_warn_clearly():
  with pytest.raises(TypeError, match="initial_state=state"):
    eala_step(init_eala_state((2,), 2, 4, 4), *([jnp.ones((2, 2, 4))] * 3))
  with pytest.warns(DeprecationWarning, match="init_eala_state"):
    old = init_state((2,), 2, 4, 4)
  chex.assert_trees_all_equal(old, init_eala_state((2,), 2, 4, 4))


def test_state_is_a_pytree():
  state = init_eala_state((3,), 2, 4, 6, third_moment=True)
  shapes = [x.shape for x in jax.tree.leaves(state)]
  assert (3, 2, 4, 4, 4) in shapes and len(shapes) == 8
  assert len(jax.tree.leaves(init_eala_state((3,), 2, 4, 6))) == 7


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda q, k, v: eala_step(q[:, 0], k[:, 0], v[:, 0], initial_state=init_eala_state((2,), 2, 8, 8),
                                   estimator="cumulant3"),
         "third_moment=True"),
        (lambda q, k, v: eala_attention(q, k, v, causal=True, nonneg="centered"), "not a prefix statistic"),
        (lambda q, k, v: eala_attention(q, k[:, :5], v[:, :5], causal=True), "q_len == kv_len"),
        (lambda q, k, v: eala_attention(q, k, v, nonneg="tight"), "nonneg must be"),
        (lambda q, k, v: chunk_eala(q, k, v, chunk_size=0), "chunk_size"),
    ],
)
def test_bad_causal_arguments(call, match):
  query, key, value = gaussian_qkv(3, q_len=10, kv_len=10)
  with pytest.raises(ValueError, match=match):
    call(query, key, value)


@pytest.mark.parametrize("kind", sorted(ATTENTION_FUNCTIONS))
def test_every_causal_kind_equals_its_prefix_definition(kind):
  options = {"feature_key": jax.random.key(0), "num_features": 32} if kind == "performer" else {}
  fn = get_attention_fn(kind, **options)
  query, key, value = gaussian_qkv(4, q_len=11, kv_len=11)
  causal = fn(query, key, value, causal=True, **({} if kind == "softmax" else {"chunk_size": 4}))
  for i in (0, 4, 10):
    prefix = fn(query[:, i : i + 1], key[:, : i + 1], value[:, : i + 1])
    np.testing.assert_allclose(causal[:, i], prefix[:, 0], atol=2e-5, err_msg=f"{kind} row {i}")
