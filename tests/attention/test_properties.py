"""Property-based tests of the pure attention functions (issue 15).

Random batch, length, heads (grouped-query included), masks (all-masked rows
included), dtypes, score scales over six orders of magnitude, causal or not:
outputs and gradients are finite, padded query rows are zero, nothing stored in
masked positions (NaN included) changes the output, and EALA / Taylor equal the
naive quadratic definition where it is computable in float32. Bounded: a few
dozen examples drawn from small shape sets (shapes repeat, so compilations are
reused).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entropy_attention_jax.attention import get_attention_fn, naive_eala

KINDS = ("eala", "taylor", "linear", "performer", "softmax")
OPTIONS = {"performer": dict(feature_key=jax.random.key(0), num_features=16)}
HEADS = ((2, 2), (4, 2), (2, 1))  # (query heads, key/value heads)
SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def problems(draw):
  batch = 2
  length = draw(st.sampled_from((1, 6)))
  heads, kv_heads = draw(st.sampled_from(HEADS))
  seed = draw(st.integers(0, 2**16))
  scale = 10.0 ** draw(st.floats(-3.0, 3.0))
  rng = np.random.default_rng(seed)
  key_valid = rng.random((batch, length)) < draw(st.sampled_from((0.0, 0.5, 1.0)))
  key_valid[0, 0] |= draw(st.booleans())  # sometimes no key at all in a row
  query_valid = rng.random((batch, length)) < 0.8
  return dict(
      kind=draw(st.sampled_from(KINDS)),
      causal=draw(st.booleans()),
      dtype=draw(st.sampled_from((jnp.float32, jnp.bfloat16))),
      query=rng.standard_normal((batch, length, heads, 4)) * scale,
      key=rng.standard_normal((batch, length, kv_heads, 4)),
      value=rng.standard_normal((batch, length, kv_heads, 3)),
      key_valid=key_valid, query_valid=query_valid, scale=scale,
  )


def attention(problem):
  fn = get_attention_fn(problem["kind"], **OPTIONS.get(problem["kind"], {}))
  mask = problem["query_valid"][:, None, :, None] & problem["key_valid"][:, None, None, :]
  if problem["causal"]:
    mask = mask & np.tril(np.ones(mask.shape[-2:], bool))  # recognised as causal
  causal = problem["causal"] and problem["kind"] == "softmax"  # softmax applies it as is
  return functools.partial(fn, mask=jnp.asarray(mask), causal=causal)


def inputs(problem, fill=None):
  dtype = problem["dtype"]
  query, key, value = (jnp.asarray(problem[n], dtype) for n in ("query", "key", "value"))
  if fill is not None:  # garbage in every masked key and value
    hidden = ~jnp.asarray(problem["key_valid"])[..., None, None]
    key, value = (jnp.where(hidden, jnp.asarray(fill, dtype), x) for x in (key, value))
  return query, key, value


@SETTINGS
@given(problems())
def test_finite_zero_padded_rows_and_blind_to_masked_positions(problem):
  fn = jax.jit(attention(problem))  # the clean and poisoned calls share one compilation
  out = fn(*inputs(problem))
  assert out.dtype == problem["dtype"]
  assert np.all(np.isfinite(np.asarray(out, np.float32)))
  padded = ~problem["query_valid"]
  assert np.all(np.asarray(out, np.float32)[padded] == 0)
  poisoned = inputs(problem, fill=jnp.nan)
  np.testing.assert_array_equal(np.asarray(fn(*poisoned), np.float32), np.asarray(out, np.float32))
  loss = lambda q, k, v: jnp.sum(jnp.tanh(fn(q, k, v).astype(jnp.float32)))
  grads = jax.jit(jax.grad(loss, (0, 1, 2)))(*poisoned)
  assert all(np.all(np.isfinite(np.asarray(g, np.float32))) for g in grads)


@SETTINGS
@given(problems().filter(lambda p: p["kind"] in ("eala", "taylor") and p["scale"] <= 10.0))
def test_eala_and_taylor_equal_the_naive_definition(problem):
  problem = dict(problem, dtype=jnp.float32)
  query, key, value = inputs(problem)
  group = query.shape[-2] // key.shape[-2]
  key, value = (jnp.repeat(x, group, -2) for x in (key, value))
  key_mask = jnp.broadcast_to(jnp.asarray(problem["key_valid"])[:, None, :],
                              (key.shape[0], key.shape[-2], key.shape[1]))
  fixed = 1.0 if problem["kind"] == "taylor" else None
  reference, _, _ = jax.jit(functools.partial(
      naive_eala, causal=problem["causal"], fixed_theta=fixed))(query, key, value, key_mask=key_mask)
  reference = jnp.where(jnp.asarray(problem["query_valid"])[..., None, None], reference, 0.0)
  got = jax.jit(attention(problem))(*inputs(problem))
  tolerance = 1e-4 * (1.0 + float(jnp.max(jnp.abs(reference))))
  np.testing.assert_allclose(got, reference, atol=tolerance, rtol=1e-4)
