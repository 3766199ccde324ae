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
  key_features = key_features * stats.key_weights(key_features, key_mask)[..., None]
  key_value = jnp.einsum(
      "...lhf,...lhv->...hfv", key_features, value.astype(jnp.float32), precision=precision
  )
  key_sum = jnp.sum(key_features, axis=-3)
  numerator = jnp.einsum(
      "...qhf,...hfv->...qhv", query_features, key_value, precision=precision
  )
  denominator = jnp.einsum("...qhf,...hf->...qh", query_features, key_sum)
  return numerator / jnp.maximum(denominator, eps)[..., None]


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
    causal / is_causal: must be False (causal mode is not implemented yet).
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
  if causal or is_causal:
    raise NotImplementedError("linear_attention: causal mode is not implemented yet.")
  key_mask = _checks.key_padding_mask(mask, query, key, fn_name)
  out_dtype = _common.resolve_dtype(dtype, query, key, value)
  query = query.astype(jnp.float32) * (1.0 if scale is None else scale)
  output = kernel_attention(
      feature_map(query), feature_map(key.astype(jnp.float32)), value, key_mask,
      eps=eps, precision=precision,
  )
  output = _common.zero_rows_without_keys(output, key_mask)
  return output.astype(out_dtype)
