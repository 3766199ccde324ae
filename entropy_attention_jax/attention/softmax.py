"""Exact softmax attention, the quadratic baseline, via `jax.nn.dot_product_attention`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import _common, masks
from entropy_attention_jax.entropy import stats
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike, PRNGKey


def softmax_weights(
    query: Array,
    key: Array,
    *,
    bias: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    scale: float | None = None,
    causal: bool = False,
    precision: PrecisionLike = None,
) -> Array:
  """Softmax attention weights, float32 `[batch..., heads, q_len, kv_len]`.

  A query with no valid key gets all-zero weights (not uniform, not NaN).
  """
  tau = _checks.resolve_scale(scale, query.shape[-1])
  scores = tau * jnp.einsum(
      "...qhd,...khd->...hqk", query.astype(jnp.float32), key.astype(jnp.float32),
      precision=precision,
  )
  if bias is not None:
    scores = scores + jnp.asarray(bias, jnp.float32)
  valid = jnp.ones(scores.shape, bool)
  if mask is not None:
    valid = jnp.broadcast_to(jnp.asarray(mask, bool), scores.shape)
  if causal:
    q_len, kv_len = scores.shape[-2:]
    valid = valid & jnp.tril(jnp.ones((q_len, kv_len), bool), kv_len - q_len)
  scores = jnp.where(valid, scores, -jnp.inf)
  row_max = jax.lax.stop_gradient(jnp.max(scores, -1, keepdims=True))
  row_max = jnp.where(jnp.isfinite(row_max), row_max, 0.0)
  exp = jnp.where(valid, jnp.exp(jnp.where(valid, scores - row_max, 0.0)), 0.0)
  total = jnp.sum(exp, -1, keepdims=True)
  return exp / jnp.where(total > 0, total, 1.0)


def _fused_attention(query, key, value, *, bias, mask, scale, causal, implementation):
  """`jax.nn.dot_product_attention` over any number of batch axes (it takes one)."""
  batch = query.shape[:-3]
  pairwise = (*batch, query.shape[-2], query.shape[-3], key.shape[-3])

  def fold(x):  # [batch..., *rest] -> [prod(batch), *rest]
    return x.reshape(-1, *x.shape[len(batch):])

  def fold_pairwise(x):  # broadcast to [batch..., heads, q_len, kv_len], then fold
    return None if x is None else fold(jnp.broadcast_to(x, pairwise))

  output = jax.nn.dot_product_attention(
      fold(query), fold(key), fold(value), bias=fold_pairwise(bias),
      mask=fold_pairwise(mask), scale=scale, is_causal=causal,
      implementation=implementation,
  )
  return output.reshape(*batch, *output.shape[1:])


def softmax_attention(
    query: Array,
    key: Array,
    value: Array,
    bias: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    *,
    scale: float | None = None,
    causal: bool = False,
    is_causal: bool = False,
    key_padding_mask: ArrayLike | None = None,
    query_seq_lengths: ArrayLike | None = None,
    key_value_seq_lengths: ArrayLike | None = None,
    broadcast_dropout: bool = True,
    dropout_rng: PRNGKey | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
    implementation: str | None = None,
) -> Array:
  """Exact softmax attention; time `O(q_len · kv_len)`.

  Uses `jax.nn.dot_product_attention` (fused where the backend has a kernel,
  see `implementation`). When weights are needed — attention dropout, a
  `module` to sow them into, or an explicit `precision` — they are formed
  explicitly with :func:`softmax_weights`.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, kv_heads, head_dim]`; `kv_heads` divides `heads`
      (grouped-query attention).
    value: `[batch..., kv_len, kv_heads, v_dim]`.
    bias: optional additive bias broadcastable to
      `[batch..., heads, q_len, kv_len]`.
    mask: optional boolean mask broadcastable to
      `[batch..., heads, q_len, kv_len]`; True keeps a pair.
    scale: score scale; defaults to `1 / sqrt(head_dim)`.
    causal / is_causal: mask keys after each query (Flax spells it `is_causal`).
    key_padding_mask: boolean `[batch..., kv_len]`; False drops a key.
    query_seq_lengths, key_value_seq_lengths: int `[batch...]`, as in
      `jax.nn.dot_product_attention` (padded query rows give zeros here).
    broadcast_dropout: share the dropout mask across the batch and head axes.
    dropout_rng: PRNG key for attention dropout.
    dropout_rate: attention-weight dropout rate.
    deterministic: disables dropout.
    dtype: output dtype; defaults to the promoted input dtype.
    precision: einsum precision (forces the explicit path).
    module: a Flax module; if given, sows `attention_weights`.
    implementation: passed to `jax.nn.dot_product_attention` ("xla", "cudnn").

  Returns:
    Output of shape `[batch..., q_len, heads, v_dim]`; a query with no valid
    key gives zeros.
  """
  fn_name = "softmax_attention"
  _checks.check_query_key(query, key, fn_name, value, grouped=True)
  causal = causal or is_causal
  out_dtype = _common.resolve_dtype(dtype, query, key, value)
  use_dropout = dropout_rate > 0.0 and not deterministic
  if use_dropout and dropout_rng is None:
    raise ValueError(f"{fn_name}: dropout_rate > 0 needs a dropout_rng.")
  group = query.shape[-2] // key.shape[-2]
  if group > 1:  # quadratic anyway: give every query head its key head
    key, value = (jnp.repeat(x, group, axis=-2) for x in (key, value))
  if key_padding_mask is not None or query_seq_lengths is not None or key_value_seq_lengths is not None:
    linear = masks.resolve_mask(
        None, query, key, fn_name=fn_name, key_padding_mask=key_padding_mask,
        query_seq_lengths=query_seq_lengths, key_value_seq_lengths=key_value_seq_lengths,
    )
    pairs = jnp.ones((), bool)
    if linear.key_mask is not None:
      pairs = pairs & linear.key_mask[..., None, :]
    if linear.query_mask is not None:
      pairs = pairs & jnp.swapaxes(linear.query_mask, -1, -2)[..., None]
    mask = pairs if mask is None else jnp.asarray(mask, bool) & pairs
  valid_query = None
  if mask is not None:
    # [batch..., heads, q_len] -> [batch..., q_len, heads, 1]
    target = (*query.shape[:-3], query.shape[-2], query.shape[-3], key.shape[-3])
    try:
      mask = jnp.broadcast_to(jnp.asarray(mask, bool), target)
    except ValueError:
      raise ValueError(
          f"{fn_name}: mask of shape {jnp.shape(mask)} does not broadcast to"
          f" [batch..., heads, q_len, kv_len] = {target}."
      ) from None
    valid_query = jnp.swapaxes(jnp.any(mask, -1), -1, -2)[..., None]
    # Keys no query sees (padding) may hold anything, NaN included: zero them.
    seen = jnp.any(mask, -2)  # [batch..., heads, kv_len]
    key, value = stats.zero_invalid(key, seen), stats.zero_invalid(value, seen)

  explicit = use_dropout or module is not None or precision is not None
  # jax.nn.dot_product_attention wants v_dim == head_dim.
  explicit = explicit or value.shape[-1] != query.shape[-1]
  if explicit:
    weights = softmax_weights(
        query, key, bias=bias, mask=mask, scale=scale, causal=causal,
        precision=precision,
    )
    _common.sow(module, "attention_weights", weights)
    if use_dropout:
      keep = 1.0 - dropout_rate
      shape = weights.shape
      if broadcast_dropout:
        shape = (1,) * (weights.ndim - 2) + shape[-2:]
      keep_mask = jax.random.bernoulli(dropout_rng, keep, shape)
      weights = jnp.where(keep_mask, weights / keep, 0.0)
    output = jnp.einsum(
        "...hqk,...khv->...qhv", weights, value.astype(jnp.float32), precision=precision
    )
  else:
    output = _fused_attention(
        query.astype(out_dtype), key.astype(out_dtype), value.astype(out_dtype),
        bias=None if bias is None else jnp.asarray(bias, out_dtype),
        mask=mask, scale=scale, causal=causal, implementation=implementation,
    )
  if valid_query is not None:
    output = jnp.where(valid_query, output, jnp.zeros((), output.dtype))
  return output.astype(out_dtype)
