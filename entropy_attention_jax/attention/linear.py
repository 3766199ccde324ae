r"""Kernelised linear attention with the elu+1 feature map (Katharopoulos et al.).

:math:`o_q = φ(q)^\top \sum_j φ(k_j) v_j^\top / φ(q)^\top \sum_j φ(k_j)` with
:math:`φ(x) = \mathrm{elu}(x) + 1`: `O(L d d_v)` and, unlike EALA, no control of
the weights' entropy.

References:
  Katharopoulos, Vyas, Pappas, Fleuret. Transformers are RNNs: Fast
  Autoregressive Transformers with Linear Attention. ICML 2020.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from entropy_attention_jax.attention import _common
from entropy_attention_jax.entropy import stats
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike, PRNGKey, Shape

FeatureMap = Callable[[Array], Array]


class LinearAttentionState(NamedTuple):
  """Prefix sums of causal kernel attention over the valid keys seen so far.

  Attributes:
    key_value_sum: Σ φ(k) vᵀ, `[batch..., heads, features, v_dim]`.
    key_sum: Σ φ(k), `[batch..., heads, features]`.
  """

  key_value_sum: Array
  key_sum: Array


def init_linear_state(
    batch_shape: Shape | int, heads: int, features: int, v_dim: int
) -> LinearAttentionState:
  """An empty :class:`LinearAttentionState`, float32 (`features` = φ's output size)."""
  batch_shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
  return LinearAttentionState(
      jnp.zeros((*batch_shape, heads, features, v_dim), jnp.float32),
      jnp.zeros((*batch_shape, heads, features), jnp.float32),
  )


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
    key_features = jnp.where(key_mask[..., None], key_features, 0.0)
  value = stats.heads_major(stats.zero_invalid(value, key_mask).astype(jnp.float32))
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
    segment_ids: Array | None = None,
    initial_state: LinearAttentionState | None = None,
    output_final_state: bool = False,
    precision: PrecisionLike = None,
) -> _common.AttentionResult:
  """Causal :func:`kernel_attention`, chunked: query `i` sees keys `j ≤ i`.

  A `lax.scan` carries Σφ(k)vᵀ and Σφ(k) over earlier chunks; inside a chunk
  a causally masked `[chunk, chunk]` block adds the earlier keys of the chunk.

  Args:
    query_features: `[batch..., length, heads, features]`.
    key_features: `[batch..., length, kv_heads, features]` (the query's batch
      dims may broadcast against the key's, e.g. a query-group axis).
    value: `[batch..., length, kv_heads, v_dim]`.
    key_mask: optional boolean `[batch..., kv_heads, length]`.
    chunk_size: keys per chunk.
    eps: floor of the normaliser.
    segment_ids: optional integer `[batch..., length]`: a query sees only the
      earlier keys of its own (contiguous) segment.
    initial_state: sums to continue from (default: empty); with `segment_ids`
      it continues the first segment.
    output_final_state: also return the state after the last key.
    precision: einsum precision.

  Returns:
    An :class:`~entropy_attention_jax.attention.AttentionResult`: output float32
    `[batch..., length, heads, v_dim]`, no aux, and with `output_final_state`
    the :class:`LinearAttentionState` after the last key (the last segment's).
  """
  num_batch = key_features.ndim - 3
  key_features = jnp.where(
      stats.key_weights(key_features, key_mask)[..., None] > 0, key_features, 0.0
  )
  value = stats.zero_invalid(value, key_mask).astype(jnp.float32)
  heads, features = key_features.shape[-2:]
  if initial_state is None:
    initial_state = init_linear_state(key_features.shape[:-3], heads, features, value.shape[-1])
  segmented = segment_ids is not None
  if segmented:
    segment_ids = jnp.broadcast_to(jnp.asarray(segment_ids), key_features.shape[:-2])
  else:
    segment_ids = jnp.zeros(key_features.shape[:-2], jnp.int32)

  def body(carry, inputs, causal):
    (key_value, key_sum), carried_segment = carry
    q, k, v, segment = inputs
    visible = causal
    if segmented:
      visible = causal & (segment[..., :, None] == segment[..., None, :])
      continued = (segment == carried_segment[..., None]).astype(jnp.float32)[..., None, None]
      q_carried = q * continued  # queries of a new segment do not see the carried sums
    else:
      visible, q_carried = causal, q
    block = jnp.where(
        visible[..., None, :, :] if segmented else visible,
        jnp.einsum("...ihf,...jhf->...hij", q, k, precision=precision), 0.0,
    )
    numerator = jnp.einsum("...ihf,...hfv->...ihv", q_carried, key_value, precision=precision)
    numerator += jnp.einsum("...hij,...jhv->...ihv", block, v, precision=precision)
    denominator = jnp.einsum("...ihf,...hf->...ih", q_carried, key_sum) + jnp.swapaxes(
        block.sum(-1), -1, -2
    )
    if segmented:  # the sums after the chunk are its last segment's
      last = segment[..., -1]
      in_last = (segment == last[..., None]).astype(jnp.float32)[..., None, None]
      keep = (last == carried_segment).astype(jnp.float32)
      key_value = key_value * keep[..., None, None, None]
      key_sum = key_sum * keep[..., None, None]
      k = k * in_last
      carried_segment = last
    key_value = key_value + jnp.einsum("...lhf,...lhv->...hfv", k, v, precision=precision)
    key_sum = key_sum + jnp.sum(k, -3)
    output = numerator / jnp.maximum(denominator, eps)[..., None]
    return ((key_value, key_sum), carried_segment), output

  init = ((initial_state.key_value_sum, initial_state.key_sum), segment_ids[..., 0])
  (final, _), output = _common.chunked_scan(
      body, init, (query_features, key_features, value, segment_ids),
      num_batch=num_batch, chunk_size=chunk_size, edge=(False, False, False, True),
  )
  return _common.AttentionResult(
      output, None, LinearAttentionState(*final) if output_final_state else None
  )


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
    key_padding_mask: ArrayLike | None = None,
    query_seq_lengths: ArrayLike | None = None,
    key_value_seq_lengths: ArrayLike | None = None,
    mask_structure: str | None = None,
    segment_ids: ArrayLike | None = None,
    initial_state: LinearAttentionState | None = None,
    output_final_state: bool = False,
    chunk_size: int = 64,
    dropout_mode: str = "output",
    broadcast_dropout: bool = True,
    dropout_rng: PRNGKey | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
) -> Array | tuple[Array, LinearAttentionState]:
  """Linear attention with a positive feature map (elu+1 by default); `O(kv_len)`.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, kv_heads, head_dim]`; `kv_heads` divides `heads`.
    value: `[batch..., kv_len, kv_heads, v_dim]`.
    bias: must be None.
    mask, key_padding_mask, query_seq_lengths, key_value_seq_lengths, mask_structure: as
      :func:`~entropy_attention_jax.attention.eala_attention`.
    scale: multiplies the queries before the feature map; default 1 (the
      elu+1 kernel has no temperature in the original formulation).
    feature_map: elementwise positive map φ.
    eps: floor of the normaliser.
    causal, is_causal: query `i` attends to keys `j ≤ i` (chunked form).
    segment_ids: integer `[batch..., length]`, packed sequences (causal).
    initial_state: a :class:`LinearAttentionState` to continue from (causal).
    output_final_state: also return the final state (causal).
    chunk_size: chunk length of the causal form.
    dropout_mode, dropout_rate, dropout_rng, broadcast_dropout, deterministic:
      as :func:`~entropy_attention_jax.attention.eala_attention`.
    dtype, precision: as Flax's `attention_fn`.
    module: accepted for Flax compatibility.

  Returns:
    Output of shape `[batch..., q_len, heads, v_dim]` (zero rows for padded
    queries); with `output_final_state`, `(output, final_state)`.
  """
  del module
  fn_name = "linear_attention"
  multiplier = 1.0 if scale is None else scale

  def core(query, key, value, *, key_mask, causal, segment_ids, initial_state):
    features = (
        feature_map(query.astype(jnp.float32) * multiplier),
        feature_map(stats.zero_invalid(key, key_mask).astype(jnp.float32)), value, key_mask,
    )
    if causal:
      return causal_kernel_attention(
          *features, chunk_size=chunk_size, eps=eps, segment_ids=segment_ids,
          initial_state=initial_state, output_final_state=output_final_state,
          precision=precision,
      )
    return _common.AttentionResult(kernel_attention(*features, eps=eps, precision=precision))

  output, _, final_state = _common.linear_time_attention(
      core, query, key, value, fn_name=fn_name,
      **_common.front_end_arguments(locals()),
  )

  return (output, final_state) if output_final_state else output
