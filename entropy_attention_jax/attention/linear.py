r"""Kernelised linear attention with the elu+1 feature map (Katharopoulos et al.).

:math:`o_q = φ(q)^\top \sum_j φ(k_j) v_j^\top / φ(q)^\top \sum_j φ(k_j)` with
:math:`φ(x) = \mathrm{elu}(x) + 1`: `O(L d d_v)` and, unlike EALA, no control of
the weights' entropy.

References:
  Katharopoulos, Vyas, Pappas, Fleuret. Transformers are RNNs: Fast
  Autoregressive Transformers with Linear Attention. ICML 2020.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import _common
from entropy_attention_jax.entropy import stats
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike, PRNGKey

FeatureMap = Callable[[Array], Array]


def elu_feature_map(x: Array) -> Array:
  """φ(x) = elu(x) + 1 > 0, elementwise."""
  return jax.nn.elu(x) + 1.0


def kernel_attention(
    query_features: Array,
    key_features: Array,
    value: Array,
    key_mask: Array | None,
    *,
    eps: float = 1e-6,
    precision: PrecisionLike = None,
) -> Array:
  """Normalised kernel attention from non-negative features, float32.

  Args:
    query_features: `[batch..., q_len, heads, features]`.
    key_features: `[batch..., kv_len, heads, features]`.
    value: `[batch..., kv_len, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.
    eps: floor of the normaliser.
    precision: einsum precision.

  Returns:
    `[batch..., q_len, heads, v_dim]`; zeros for a query with no valid key.
  """
  # Heads-major, so that each contraction is a plain batched matrix product.
  query_features = stats.heads_major(query_features)
  key_features = stats.heads_major(key_features)
  if key_mask is not None:
    key_features = key_features * key_mask[..., None].astype(key_features.dtype)
  value = stats.heads_major(value.astype(jnp.float32))
  key_value = jnp.einsum("...lf,...lv->...fv", key_features, value, precision=precision)
  key_sum = jnp.sum(key_features, axis=-2)
  numerator = jnp.einsum("...qf,...fv->...qv", query_features, key_value, precision=precision)
  denominator = jnp.einsum("...qf,...f->...q", query_features, key_sum)
  return stats.heads_major(numerator / jnp.maximum(denominator, eps)[..., None])


def causal_kernel_attention(
    query_features: Array,
    key_features: Array,
    value: Array,
    key_mask: Array | None,
    *,
    chunk_size: int = 64,
    eps: float = 1e-6,
    precision: PrecisionLike = None,
) -> Array:
  """Causal :func:`kernel_attention`, chunked: query `i` sees keys `j ≤ i`.

  A `lax.scan` carries Σφ(k)vᵀ and Σφ(k) over earlier chunks; inside a chunk
  a causally masked `[chunk, chunk]` block adds the earlier keys of the chunk.

  Args:
    query_features: `[batch..., length, heads, features]`.
    key_features: `[batch..., length, heads, features]`.
    value: `[batch..., length, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, length]`.
    chunk_size: keys per chunk.
    eps: floor of the normaliser.
    precision: einsum precision.

  Returns:
    float32 `[batch..., length, heads, v_dim]`.
  """
  batch, length = key_features.shape[:-3], key_features.shape[-3]
  key_features = key_features * stats.key_weights(key_features, key_mask)[..., None]
  value = value.astype(jnp.float32)
  chunk_size = min(chunk_size, length)
  num_chunks = -(-length // chunk_size)
  pad = num_chunks * chunk_size - length

  def chunked(x):  # [batch..., length, *rest] -> [chunks, batch..., chunk, *rest]
    x = jnp.pad(x, [(0, 0)] * len(batch) + [(0, pad)] + [(0, 0)] * (x.ndim - len(batch) - 1))
    return jnp.moveaxis(x.reshape(*batch, num_chunks, chunk_size, *x.shape[len(batch) + 1:]), len(batch), 0)

  causal = jnp.tril(jnp.ones((chunk_size, chunk_size), bool))

  def body(carry, inputs):
    key_value, key_sum = carry
    q, k, v = inputs
    block = jnp.where(causal, jnp.einsum("...ihf,...jhf->...hij", q, k, precision=precision), 0.0)
    numerator = jnp.einsum("...ihf,...hfv->...ihv", q, key_value, precision=precision)
    numerator += jnp.einsum("...hij,...jhv->...ihv", block, v, precision=precision)
    denominator = jnp.einsum("...ihf,...hf->...ih", q, key_sum) + jnp.swapaxes(block.sum(-1), -1, -2)
    key_value = key_value + jnp.einsum("...lhf,...lhv->...hfv", k, v, precision=precision)
    key_sum = key_sum + jnp.sum(k, -3)
    return (key_value, key_sum), numerator / jnp.maximum(denominator, eps)[..., None]

  heads, features = key_features.shape[-2:]
  init = (
      jnp.zeros((*batch, heads, features, value.shape[-1]), jnp.float32),
      jnp.zeros((*batch, heads, features), jnp.float32),
  )
  _, output = jax.lax.scan(body, init, tuple(chunked(x) for x in (query_features, key_features, value)))
  output = jnp.moveaxis(output, 0, len(batch))
  output = output.reshape(*batch, num_chunks * chunk_size, *output.shape[len(batch) + 2:])
  return output[(slice(None),) * len(batch) + (slice(0, length),)]


def kernel_weights(
    query_features: Array, key_features: Array, key_mask: Array | None, eps: float = 1e-6
) -> Array:
  """The implicit weights of :func:`kernel_attention`, `[batch..., heads, q_len, kv_len]`."""
  similarity = jnp.einsum("...qhf,...khf->...hqk", query_features, key_features)
  if key_mask is not None:
    similarity = jnp.where(key_mask[..., None, :], similarity, 0.0)
  return similarity / jnp.maximum(jnp.sum(similarity, -1, keepdims=True), eps)


def linear_attention(
    query: Array,
    key: Array,
    value: Array,
    bias: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    *,
    scale: float | None = None,
    feature_map: FeatureMap = elu_feature_map,
    eps: float = 1e-6,
    causal: bool = False,
    is_causal: bool = False,
    chunk_size: int = 64,
    broadcast_dropout: bool = True,
    dropout_rng: PRNGKey | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
) -> Array:
  """Linear attention with a positive feature map (elu+1 by default); `O(kv_len)`.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    value: `[batch..., kv_len, heads, v_dim]`.
    bias: must be None.
    mask: key-padding mask broadcastable to `[batch..., heads, 1, kv_len]`.
    scale: multiplies the queries before the feature map; default 1 (the
      elu+1 kernel has no temperature in the original formulation).
    feature_map: elementwise positive map φ.
    eps: floor of the normaliser.
    causal / is_causal: query `i` attends to keys `j ≤ i` (chunked form).
    chunk_size: chunk length of the causal form.
    dtype, precision, deterministic, dropout_rate: as Flax's `attention_fn`;
      weight dropout raises.
    broadcast_dropout, dropout_rng, module: accepted for Flax compatibility.

  Returns:
    Output of shape `[batch..., q_len, heads, v_dim]`.
  """
  del broadcast_dropout, dropout_rng, module
  fn_name = "linear_attention"
  _checks.check_query_key(query, key, fn_name, value)
  _checks.reject_bias(bias, fn_name)
  _common.reject_weight_dropout(dropout_rate, deterministic, fn_name)
  causal = causal or is_causal
  if causal:
    _common.check_causal_lengths(query, key, fn_name)
  key_mask = _checks.key_padding_mask(mask, query, key, fn_name)
  out_dtype = _common.resolve_dtype(dtype, query, key, value)
  query = query.astype(jnp.float32) * (1.0 if scale is None else scale)
  features = (feature_map(query), feature_map(key.astype(jnp.float32)), value, key_mask)
  if causal:
    output = causal_kernel_attention(*features, chunk_size=chunk_size, eps=eps, precision=precision)
  else:
    output = kernel_attention(*features, eps=eps, precision=precision)
  output = _common.zero_rows_without_keys(output, key_mask)
  return output.astype(out_dtype)
