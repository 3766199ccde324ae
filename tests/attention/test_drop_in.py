"""Issue 14: Flax masks, grouped-query heads, state in/out, packed sequences, dropout.

Every fast path is compared with the naive quadratic definition (`naive_eala`
with explicit masks, repeated key heads, segment-masked weights), outputs and
`dq, dk, dv` for one random cotangent, in float32 and bfloat16.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import entropy_attention_jax as eaj
from entropy_attention_jax.attention import (
    eala_step,
    get_attention_fn,
    init_eala_state,
    naive_eala,
)
from tests.conftest import gaussian_qkv

LINEAR_KINDS = ("eala", "taylor", "linear", "performer")
STATEFUL_KINDS = ("eala", "taylor", "linear")
OPTIONS = {"performer": dict(feature_key=jax.random.key(3), num_features=32)}
TOLERANCE = {jnp.float32: 2e-5, jnp.bfloat16: 3e-2}


def kind_fn(kind, **options):
  return get_attention_fn(kind, **OPTIONS.get(kind, {}), **options)


def with_grads(fn, *args):
  """`fn(*args)` and its vjp for a fixed random cotangent (float32)."""
  out, vjp = jax.vjp(jax.jit(fn), *args)
  cotangent = jax.random.normal(jax.random.key(7), out.shape, jnp.float32).astype(out.dtype)
  return out, vjp(cotangent)


def assert_close(got, want, dtype=jnp.float32):
  tol = TOLERANCE[dtype]
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    chex.assert_tree_all_finite(g)
    np.testing.assert_allclose(
        np.asarray(g, np.float32), np.asarray(w, np.float32), atol=tol, rtol=tol
    )


def naive_reference(query, key, value, *, key_valid=None, query_valid=None, causal=False,
                    segment_ids=None, **options):
  """The definition: explicit weights over the valid keys, padded query rows zero."""
  key_mask = None
  if key_valid is not None:
    key_mask = jnp.broadcast_to(key_valid[..., None, :], (*key.shape[:-3], key.shape[-2], key.shape[-3]))
  out, _, _ = naive_eala(query, key, value, key_mask=key_mask, causal=causal,
                         segment_ids=segment_ids, **options)
  if query_valid is not None:
    out = jnp.where(query_valid[..., None, None], out, 0.0)
  return out


# --- Masks -------------------------------------------------------------------


def test_flax_mha_with_make_attention_mask_is_eala_over_the_valid_keys():
  # Done-when 1: the standard Flax padding mask runs; padded query rows are zero
  # before the output projection (so the layer gives its output bias there).
  lengths = jnp.asarray([5, 8])
  pad = jnp.arange(8)[None, :] < lengths[:, None]
  x = jax.random.normal(jax.random.key(0), (2, 8, 64))
  mha = nnx.MultiHeadAttention(4, 64, attention_fn=eaj.eala_attention, decode=False,
                               rngs=nnx.Rngs(0))
  got = mha(x, mask=nnx.make_attention_mask(pad, pad))
  q, k, v = mha.query(x), mha.key(x), mha.value(x)
  for b, n in enumerate([5, 8]):
    want = mha.out(eaj.eala_attention(q[b:b + 1, :n], k[b:b + 1, :n], v[b:b + 1, :n]))
    np.testing.assert_allclose(got[b:b + 1, :n], want, atol=2e-5)
  np.testing.assert_allclose(got[0, 5:], jnp.broadcast_to(mha.out.bias[...], (3, 64)), atol=1e-6)


@pytest.mark.parametrize(
    "causal, dtype", [(False, jnp.float32), (True, jnp.float32), (True, jnp.bfloat16)]
)
def test_factorised_masks_equal_the_definition(causal, dtype):
  query, key, value = gaussian_qkv(1, q_len=12, kv_len=12, v_dim=5, score_scale=1.5, dtype=dtype)
  query_valid = jnp.asarray([[True] * 9 + [False] * 3, [True] * 12])
  key_valid = jnp.asarray([[True] * 8 + [False] * 4, [True, False] * 6])
  pairs = query_valid[:, None, :, None] & key_valid[:, None, None, :]
  if causal:
    pairs = pairs & jnp.tril(jnp.ones((12, 12), bool))  # recognised: no causal= flag
  want, want_grads = with_grads(
      lambda q, k, v: naive_reference(q, k, v, key_valid=key_valid, query_valid=query_valid,
                                      causal=causal, nonneg=True), query, key, value)
  fn = functools.partial(eaj.eala_attention, nonneg=True, form="linear")
  got = with_grads(lambda q, k, v: fn(q, k, v, mask=pairs).astype(jnp.float32), query, key, value)
  assert_close(got, (want, want_grads), dtype)
  quadratic = eaj.eala_attention(query, key, value, mask=pairs, nonneg=True, form="quadratic")
  assert_close(quadratic.astype(jnp.float32), want, dtype)
  # The explicit keywords say the same thing without a [q, kv] mask.
  keywords = eaj.eala_attention(
      query, key, value, key_padding_mask=key_valid, query_seq_lengths=jnp.asarray([9, 12]),
      causal=causal, nonneg=True,
  )
  assert_close(keywords.astype(jnp.float32), want, dtype)


@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_every_linear_kind_takes_the_flax_padding_mask(kind):
  fn = kind_fn(kind)
  query, key, value = gaussian_qkv(2, q_len=10, kv_len=10)
  pad = jnp.asarray([[True] * 7 + [False] * 3, [True] * 10])
  got = fn(query, key, value, mask=nnx.make_attention_mask(pad, pad))
  want = fn(query, key, value, key_padding_mask=pad)
  want = jnp.where(pad[..., None, None], want, 0.0)
  np.testing.assert_allclose(got, want, atol=1e-6)
  lengths = fn(query, key, value, query_seq_lengths=jnp.asarray([7, 10]),
               key_value_seq_lengths=jnp.asarray([7, 10]))
  np.testing.assert_allclose(lengths, want, atol=1e-6)


def test_causal_mask_maps_to_the_causal_form():
  query, key, value = gaussian_qkv(3, q_len=10, kv_len=10)
  mask = nnx.make_causal_mask(jnp.ones((2, 10)))
  np.testing.assert_allclose(
      eaj.eala_attention(query, key, value, mask=mask),
      eaj.eala_attention(query, key, value, causal=True), atol=1e-6,
  )


def test_masks_that_cannot_be_linearised_say_what_would_work():
  query, key, value = gaussian_qkv(4, q_len=10, kv_len=10)
  band = jnp.abs(jnp.arange(10)[:, None] - jnp.arange(10)[None, :]) <= 2
  with pytest.raises(ValueError, match="cannot be linearised.*key_padding_mask"):
    eaj.eala_attention(query, key, value, mask=band)
  pad = jnp.ones((2, 10), bool)
  traced = jax.jit(lambda m: eaj.eala_attention(query, key, value, mask=m))
  with pytest.raises(ValueError, match="traced.*mask_structure"):
    traced(nnx.make_attention_mask(pad, pad))
  # Under jit, a mask whose structure is vouched for runs.
  vouched = jax.jit(lambda m: eaj.eala_attention(query, key, value, mask=m, mask_structure="padding"))
  np.testing.assert_allclose(vouched(nnx.make_attention_mask(pad, pad)),
                             eaj.eala_attention(query, key, value), atol=1e-6)


# --- Grouped-query attention ---------------------------------------------------


@pytest.mark.parametrize("kind", LINEAR_KINDS + ("softmax",))
@pytest.mark.parametrize("causal", [False, True])
def test_grouped_query_heads_equal_each_group_against_its_key_head(kind, causal):
  # Done-when 2: 4 query heads, 2 key/value heads.
  query, _, _ = gaussian_qkv(5, q_len=9, kv_len=9, heads=4)
  _, key, value = gaussian_qkv(6, q_len=9, kv_len=9, heads=2)
  fn = functools.partial(kind_fn(kind), causal=causal)
  got = fn(query, key, value)
  per_group = [
      fn(query[..., 2 * g:2 * g + 2, :], jnp.repeat(key[..., g:g + 1, :], 2, -2),
         jnp.repeat(value[..., g:g + 1, :], 2, -2))
      for g in range(2)
  ]
  np.testing.assert_allclose(got, jnp.concatenate(per_group, -2), atol=2e-5)
  if kind == "eala":  # gradients reach the shared key heads
    repeated = lambda q, k, v: fn(q, jnp.repeat(k, 2, -2), jnp.repeat(v, 2, -2))
    assert_close(with_grads(fn, query, key, value), with_grads(repeated, query, key, value))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_grouped_query_heads_equal_the_definition_with_masks(dtype):
  query, _, _ = gaussian_qkv(7, q_len=11, kv_len=11, heads=6, dtype=dtype)
  _, key, value = gaussian_qkv(8, q_len=11, kv_len=11, heads=2, v_dim=3, dtype=dtype)  # MQA x3
  pad = jnp.asarray([[True] * 8 + [False] * 3, [True] * 11])
  reference = lambda q, k, v: naive_reference(
      q, jnp.repeat(k, 3, -2), jnp.repeat(v, 3, -2), key_valid=pad, query_valid=pad, causal=True,
      estimator="gaussian_ensemble")
  mask = nnx.make_attention_mask(pad, pad)  # concrete (made outside the jitted function)
  fn = lambda q, k, v: eaj.eala_attention(
      q, k, v, mask=mask, causal=True, form="linear",
      estimator="gaussian_ensemble").astype(jnp.float32)
  assert_close(with_grads(fn, query, key, value), with_grads(reference, query, key, value), dtype)


def test_flax_mha_with_num_kv_heads():
  x = jax.random.normal(jax.random.key(9), (2, 7, 32))
  mha = nnx.MultiHeadAttention(4, 32, num_kv_heads=1, attention_fn=eaj.eala_attention,
                               decode=False, rngs=nnx.Rngs(0))
  q, k, v = mha.query(x), mha.key(x), mha.value(x)
  assert k.shape[-2] == 1
  want = mha.out(eaj.eala_attention(q, jnp.repeat(k, 4, -2), jnp.repeat(v, 4, -2)))
  np.testing.assert_allclose(mha(x), want, atol=2e-5)


def test_grouped_heads_need_a_divisor():
  query, _, _ = gaussian_qkv(10, heads=4)
  _, key, value = gaussian_qkv(10, heads=3)
  with pytest.raises(ValueError, match="must divide the query heads"):
    eaj.eala_attention(query, key, value)


# --- State in and out -----------------------------------------------------------


@pytest.mark.parametrize(
    "kind, dtype",
    [("eala", jnp.float32), ("eala", jnp.bfloat16), ("taylor", jnp.float32), ("linear", jnp.float32)],
)
def test_two_halves_chained_with_initial_state_equal_one_call(kind, dtype):
  # Done-when 3.
  query, key, value = gaussian_qkv(11, q_len=13, kv_len=13, dtype=dtype)
  options = dict(nonneg=True) if kind == "eala" else {}
  fn = kind_fn(kind, **options)
  whole, whole_state = jax.jit(functools.partial(fn, causal=True, output_final_state=True))(
      query, key, value)

  def chained(q, k, v):
    first, state = fn(q[:, :6], k[:, :6], v[:, :6], causal=True, output_final_state=True)
    second, state = fn(q[:, 6:], k[:, 6:], v[:, 6:], causal=True, initial_state=state,
                       output_final_state=True)
    return jnp.concatenate([first, second], 1).astype(jnp.float32), state

  got, state = jax.jit(chained)(query, key, value)
  assert_close(got, whole.astype(jnp.float32), dtype)
  assert_close(state, whole_state)
  if kind == "eala" and dtype == jnp.float32:
    one_call = lambda q, k, v: fn(q, k, v, causal=True)
    assert_close(with_grads(lambda *a: chained(*a)[0], query, key, value),
                 with_grads(one_call, query, key, value))


def test_prefill_in_parallel_then_decode_with_eala_step():
  query, _, _ = gaussian_qkv(12, q_len=10, kv_len=10, heads=4)
  _, key, value = gaussian_qkv(13, q_len=10, kv_len=10, heads=2)
  full = eaj.eala_attention(query, key, value, causal=True, nonneg=True)
  prompt, state = eaj.eala_attention(query[:, :6], key[:, :6], value[:, :6], causal=True,
                                     nonneg=True, output_final_state=True)
  step = jax.jit(functools.partial(eala_step, nonneg=True, output_final_state=True))
  outputs = [prompt]
  for t in range(6, 10):
    out, _, state = step(query[:, t], key[:, t], value[:, t], initial_state=state)
    outputs.append(out[:, None])
  np.testing.assert_allclose(jnp.concatenate(outputs, 1), full, atol=2e-5)


def test_state_options_are_checked():
  query, key, value = gaussian_qkv(14, q_len=8, kv_len=8)
  with pytest.raises(ValueError, match="pass causal=True"):
    eaj.eala_attention(query, key, value, output_final_state=True)
  with pytest.raises(ValueError, match="carries no state"):
    eaj.eala_attention(query, key, value, causal=True, output_final_state=True,
                       form="quadratic")


# --- Packed sequences -------------------------------------------------------------

SEGMENTS = np.asarray([[0] * 4 + [1] * 6 + [2] * 3, [5] * 9 + [6] * 4])


@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_segment_ids_equal_per_sequence_calls(kind):
  # Done-when 4.
  query, key, value = gaussian_qkv(15, q_len=13, kv_len=13)
  options = dict(nonneg=True) if kind == "eala" else {}
  fn = jax.jit(functools.partial(kind_fn(kind, chunk_size=4, **options), causal=True))
  got = fn(query, key, value, segment_ids=jnp.asarray(SEGMENTS))
  for b in range(2):
    for segment in np.unique(SEGMENTS[b]):
      rows = SEGMENTS[b] == segment
      alone = fn(query[b:b + 1, rows], key[b:b + 1, rows], value[b:b + 1, rows])
      np.testing.assert_allclose(got[b:b + 1, rows], alone, atol=2e-5)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_segment_ids_equal_the_definition_with_gradients(dtype):
  query, key, value = gaussian_qkv(16, q_len=13, kv_len=13, score_scale=2.0, dtype=dtype)
  pad = jnp.asarray([[True] * 11 + [False] * 2, [False] + [True] * 12])
  segments = jnp.asarray(SEGMENTS)
  reference = lambda q, k, v: naive_reference(q, k, v, key_valid=pad, causal=True,
                                              segment_ids=segments, nonneg=True)
  fn = lambda q, k, v: eaj.eala_attention(
      q, k, v, key_padding_mask=pad, causal=True, segment_ids=segments, nonneg=True,
      form="linear", chunk_size=5).astype(jnp.float32)
  assert_close(with_grads(fn, query, key, value), with_grads(reference, query, key, value), dtype)


def test_segment_ids_with_a_state_continue_the_first_segment():
  query, key, value = gaussian_qkv(17, q_len=13, kv_len=13)
  segments = jnp.asarray(SEGMENTS)
  whole, state = eaj.eala_attention(query, key, value, causal=True, segment_ids=segments,
                                    output_final_state=True)
  first, mid = eaj.eala_attention(query[:, :7], key[:, :7], value[:, :7], causal=True,
                                  segment_ids=segments[:, :7], output_final_state=True)
  second, end = eaj.eala_attention(query[:, 7:], key[:, 7:], value[:, 7:], causal=True,
                                   segment_ids=segments[:, 7:], initial_state=mid,
                                   output_final_state=True)
  np.testing.assert_allclose(jnp.concatenate([first, second], 1), whole, atol=2e-5)
  assert_close(end, state)


def test_segment_ids_are_checked():
  query, key, value = gaussian_qkv(18, q_len=8, kv_len=8)
  with pytest.raises(ValueError, match="pass causal=True"):
    eaj.eala_attention(query, key, value, segment_ids=jnp.zeros((2, 8), jnp.int32))
  with pytest.raises(ValueError, match="segment_ids must be integers of shape"):
    eaj.eala_attention(query, key, value, causal=True, segment_ids=jnp.zeros((8,), jnp.int32))


# --- Dropout ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_dropout_modes(kind):
  fn = kind_fn(kind)
  query, key, value = gaussian_qkv(19, q_len=16, kv_len=16)
  rng = jax.random.key(4)
  plain = fn(query, key, value)
  dropped = fn(query, key, value, dropout_rate=0.5, dropout_rng=rng)
  kept = dropped != 0
  assert 0.3 < float(kept.mean()) < 0.7
  np.testing.assert_allclose(jnp.where(kept, dropped, 0), jnp.where(kept, 2 * plain, 0), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(fn(query, key, value, dropout_rate=0.5, dropout_rng=rng,
                                deterministic=True), plain)
  # "keys": whole keys dropped before the statistics, shared by batch and heads.
  by_keys = fn(query, key, value, dropout_rate=0.5, dropout_rng=rng, dropout_mode="keys")
  keep = jax.random.bernoulli(rng, 0.5, (1, 1, 16))[0, 0]
  np.testing.assert_allclose(by_keys, fn(query, key, value, key_padding_mask=keep), atol=1e-6)


def test_flax_mha_with_attention_dropout_trains():
  x = jax.random.normal(jax.random.key(20), (2, 6, 16))
  mha = nnx.MultiHeadAttention(2, 16, attention_fn=eaj.eala_attention, dropout_rate=0.1,
                               decode=False, rngs=nnx.Rngs(0, dropout=1))
  train = mha(x, deterministic=False)
  chex.assert_tree_all_finite(train)
  assert not np.allclose(train, mha(x, deterministic=True))
