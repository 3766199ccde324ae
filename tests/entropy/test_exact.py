"""softmax_entropy: the exact, chunked reference."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.entropy import softmax_entropy
from tests.conftest import gaussian_qkv, reference_entropy, reference_scores


def per_query(x):  # [batch..., heads, q_len] -> [batch..., q_len, heads]
  return np.swapaxes(x, -1, -2)


@pytest.mark.parametrize("chunk_size", [1, 7, 24, 512])
def test_matches_float64_reference_for_any_chunk_size(chunk_size):
  query, key, _ = gaussian_qkv(1, score_scale=2.0)
  expected = per_query(reference_entropy(reference_scores(query, key)))
  got = softmax_entropy(query, key, chunk_size=chunk_size)
  chex.assert_shape(got, query.shape[:-1])
  np.testing.assert_allclose(got, expected, atol=2e-5)


def test_key_padding_mask_equals_dropping_the_keys():
  query, key, _ = gaussian_qkv(2, batch=(1,))
  keep = np.arange(key.shape[-3]) % 3 != 0
  mask = jnp.asarray(keep)[None, None, None, :]  # [batch, heads, 1, kv_len]
  masked = softmax_entropy(query, key, mask=mask, chunk_size=5)
  dropped = softmax_entropy(query, key[:, keep], chunk_size=5)
  np.testing.assert_allclose(masked, dropped, atol=1e-5)


def test_all_keys_masked_gives_zero_and_finite_gradient():
  query, key, _ = gaussian_qkv(3)
  mask = jnp.zeros((key.shape[-3],), bool)
  np.testing.assert_array_equal(softmax_entropy(query, key, mask=mask), 0.0)
  grads = jax.grad(lambda q, k: softmax_entropy(q, k, mask=mask).sum(), (0, 1))(query, key)
  chex.assert_tree_all_finite(grads)


def test_single_key_has_zero_entropy():
  query, key, _ = gaussian_qkv(4, kv_len=1)
  np.testing.assert_allclose(softmax_entropy(query, key), 0.0, atol=1e-6)


def test_huge_scores_stay_accurate():
  query, key, _ = gaussian_qkv(5, score_scale=100.0)
  expected = per_query(reference_entropy(reference_scores(query, key)))
  got = softmax_entropy(query, key, chunk_size=5)
  chex.assert_tree_all_finite(got)
  np.testing.assert_allclose(got, expected, atol=1e-3)


def test_bfloat16_inputs_are_finite_and_close():
  query, key, _ = gaussian_qkv(6)
  got = softmax_entropy(query.astype(jnp.bfloat16), key.astype(jnp.bfloat16))
  chex.assert_tree_all_finite(got)
  np.testing.assert_allclose(got, softmax_entropy(query, key), atol=0.05)


def test_gradients_match_finite_differences():
  query, key, _ = gaussian_qkv(7, batch=(), q_len=3, kv_len=5, heads=1, head_dim=4)
  fn = lambda q, k: softmax_entropy(q.astype(jnp.float32), k.astype(jnp.float32), chunk_size=2)
  jax.test_util.check_grads(
      fn, (np.asarray(query, np.float64), np.asarray(key, np.float64)),
      order=1, modes=("rev",), atol=1e-2, rtol=1e-2, eps=1e-3,
  )


def test_jit_and_vmap_agree_with_eager():
  query, key, _ = gaussian_qkv(8, batch=(3,))
  eager = softmax_entropy(query, key, chunk_size=8)
  jitted = jax.jit(softmax_entropy, static_argnames="chunk_size")(query, key, chunk_size=8)
  mapped = jax.vmap(lambda q, k: softmax_entropy(q, k, chunk_size=8))(query, key)
  np.testing.assert_allclose(jitted, eager, atol=1e-6)
  np.testing.assert_allclose(mapped, eager, atol=1e-6)


@pytest.mark.parametrize(
    "query_shape, key_shape, match",
    [
        ((2, 4, 2, 8), (2, 6, 3, 8), "number of heads"),
        ((2, 4, 2, 8), (2, 6, 2, 4), "head_dim"),
        ((2, 4, 2, 8), (3, 6, 2, 8), "batch dims"),
        ((4, 8), (6, 8), "rank >= 3"),
    ],
)
def test_mismatched_shapes_name_the_problem(query_shape, key_shape, match):
  with pytest.raises(ValueError, match=match):
    softmax_entropy(jnp.zeros(query_shape), jnp.zeros(key_shape))


def test_integer_inputs_are_rejected():
  with pytest.raises(TypeError, match="`query` must have a floating dtype"):
    softmax_entropy(jnp.zeros((1, 2, 1, 4), jnp.int32), jnp.zeros((1, 2, 1, 4)))


def test_query_dependent_mask_is_rejected():
  query, key, _ = gaussian_qkv(9)
  mask = jnp.ones((query.shape[-3], key.shape[-3]), bool)
  with pytest.raises(ValueError, match="varies along the query axis"):
    softmax_entropy(query, key, mask=mask)
