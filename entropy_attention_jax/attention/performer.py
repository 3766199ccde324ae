r"""Performer attention: softmax kernel estimated with positive random features.

:math:`e^{q\cdot k} = \mathbb E_ω[φ(q) φ(k)]` with
:math:`φ(x) = \exp(ω^\top x - \lVert x\rVert^2/2)/\sqrt m`, ω ~ N(0, I), so
softmax attention is approximated in `O(L m d)`. Features are drawn once from
an explicit PRNG key (orthogonal blocks by default, which lowers variance).

References:
  Choromanski et al. Rethinking Attention with Performers. ICLR 2021.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import _common
from entropy_attention_jax.attention.linear import (
    causal_kernel_attention,
    kernel_attention,
    kernel_weights,
)
from entropy_attention_jax.entropy import stats
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike, PRNGKey


def performer_features(
    rng: PRNGKey, num_features: int, head_dim: int, *, orthogonal: bool = True
) -> Array:
  """Draws random projections ω, `[num_features, head_dim]` float32.

  Args:
    rng: PRNG key.
    num_features: m, the number of random features.
    head_dim: d.
    orthogonal: stack blocks of orthogonal rows (each row rescaled to a
      chi(d)-distributed norm, so marginals stay N(0, I)).
  """
  if num_features < 1 or head_dim < 1:
    raise ValueError(
        f"performer_features: num_features and head_dim must be >= 1, got"
        f" {num_features} and {head_dim}."
    )
  if not orthogonal:
    return jax.random.normal(rng, (num_features, head_dim), jnp.float32)
  num_blocks = -(-num_features // head_dim)
  block_key, norm_key = jax.random.split(rng)
  gaussian = jax.random.normal(block_key, (num_blocks, head_dim, head_dim), jnp.float32)
  q, r = jnp.linalg.qr(gaussian)
  # Sign-correct so each block is Haar-distributed (plain QR is not).
  blocks = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
  rows = jnp.swapaxes(blocks, -1, -2).reshape(-1, head_dim)[:num_features]
  norms = jnp.linalg.norm(
      jax.random.normal(norm_key, (num_features, head_dim), jnp.float32), axis=-1
  )
  return rows * norms[:, None]


def positive_features(
    x: Array,
    features: Array,
    *,
    stabilizer_axes: tuple[int, ...],
    valid: Array | None = None,
) -> Array:
  """φ(x) up to a constant factor that cancels in the attention ratio.

  Args:
    x: `[batch..., length, heads, head_dim]`, already scaled by √τ.
    features: ω, `[num_features, head_dim]`.
    stabilizer_axes: axes of the log-features whose max is subtracted for
      numerical range (the feature axis for queries; length and feature axes
      for keys, so the factor is shared by all keys).
    valid: optional `[batch..., length, heads, 1]` mask of the rows that may
      set the stabiliser (padding rows must not).

  Returns:
    `[batch..., length, heads, num_features]`, float32, positive.
  """
  projection = jnp.einsum("...d,md->...m", x, features)
  log_features = projection - 0.5 * jnp.sum(x**2, -1, keepdims=True)
  candidates = log_features if valid is None else jnp.where(valid, log_features, -jnp.inf)
  shift = jnp.max(candidates, stabilizer_axes, keepdims=True)
  shift = jax.lax.stop_gradient(jnp.where(jnp.isfinite(shift), shift, 0.0))
  return jnp.exp(log_features - shift) / jnp.sqrt(features.shape[0])


def _feature_pair(
    query: Array, key: Array, key_mask: Array | None, features: Array, scale: float
) -> tuple[Array, Array]:
  root = jnp.sqrt(scale)
  query_features = positive_features(
      query.astype(jnp.float32) * root, features, stabilizer_axes=(-1,)
  )
  valid = None if key_mask is None else jnp.swapaxes(key_mask, -1, -2)[..., None]
  key_features = positive_features(
      key.astype(jnp.float32) * root, features, stabilizer_axes=(-3, -1), valid=valid
  )
  return query_features, key_features


def _resolve_features(
    features: Array | None, feature_key: PRNGKey | None, num_features: int,
    head_dim: int, fn_name: str,
) -> Array:
  if features is None:
    if feature_key is None:
      raise ValueError(
          f"{fn_name}: pass the random features (`features`, from"
          " performer_features) or a PRNG key to draw them (`feature_key`); bind"
          " either with functools.partial for use as a Flax attention_fn."
      )
    features = performer_features(feature_key, num_features, head_dim)
  if features.ndim != 2 or features.shape[-1] != head_dim:
    raise ValueError(
        f"{fn_name}: features must be [num_features, head_dim={head_dim}],"
        f" got {features.shape}."
    )
  return features


def performer_attention(
    query: Array,
    key: Array,
    value: Array,
    bias: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    *,
    features: Array | None = None,
    feature_key: PRNGKey | None = None,
    num_features: int = 256,
    scale: float | None = None,
    eps: float = 1e-6,
    causal: bool = False,
    is_causal: bool = False,
    key_padding_mask: ArrayLike | None = None,
    query_seq_lengths: ArrayLike | None = None,
    key_value_seq_lengths: ArrayLike | None = None,
    mask_structure: str | None = None,
    segment_ids: ArrayLike | None = None,
    chunk_size: int = 64,
    dropout_mode: str = "output",
    broadcast_dropout: bool = True,
    dropout_rng: PRNGKey | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
) -> Array:
  """Softmax attention approximated with positive random features; `O(kv_len)`.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, kv_heads, head_dim]`; `kv_heads` divides `heads`.
    value: `[batch..., kv_len, kv_heads, v_dim]`.
    bias: must be None.
    mask, key_padding_mask, query_seq_lengths, key_value_seq_lengths, mask_structure: as
      :func:`~entropy_attention_jax.attention.eala_attention`.
    features: ω `[num_features, head_dim]` from :func:`performer_features`.
    feature_key: PRNG key to draw ω when `features` is None.
    num_features: m, used with `feature_key`.
    scale: score scale τ; defaults to `1 / sqrt(head_dim)`.
    eps: floor of the normaliser.
    causal, is_causal: query `i` attends to keys `j ≤ i` (chunked form).
    segment_ids: integer `[batch..., length]`, packed sequences (causal). No
      state goes in or out: the key stabiliser is per call.
    chunk_size: chunk length of the causal form.
    dropout_mode, dropout_rate, dropout_rng, broadcast_dropout, deterministic:
      as :func:`~entropy_attention_jax.attention.eala_attention`.
    dtype, precision: as Flax's `attention_fn`.
    module: accepted for Flax compatibility.

  Returns:
    Output of shape `[batch..., q_len, heads, v_dim]`.
  """
  del module
  fn_name = "performer_attention"
  features = _resolve_features(features, feature_key, num_features, query.shape[-1], fn_name)
  tau = _checks.resolve_scale(scale, query.shape[-1])

  def core(query, key, value, *, key_mask, causal, segment_ids):
    key = stats.zero_invalid(key, key_mask)
    query_features, key_features = _feature_pair(query, key, key_mask, features, tau)
    if causal:
      # The key stabiliser is one constant for all keys: it cancels per query,
      # so using every key's max leaks nothing across time.
      output = causal_kernel_attention(
          query_features, key_features, value, key_mask, chunk_size=chunk_size, eps=eps,
          segment_ids=segment_ids, precision=precision,
      ).output
    else:
      output = kernel_attention(
          query_features, key_features, value, key_mask, eps=eps, precision=precision
      )
    return _common.AttentionResult(output)

  output, _, _ = _common.linear_time_attention(
      core, query, key, value, fn_name=fn_name, stateful=False,
      **_common.front_end_arguments(locals()),
  )

  return output


def performer_weights(
    query: Array,
    key: Array,
    *,
    key_mask: Array | None = None,
    features: Array | None = None,
    feature_key: PRNGKey | None = None,
    num_features: int = 256,
    scale: float | None = None,
) -> Array:
  """The implicit Performer weights, `[batch..., heads, q_len, kv_len]` (small L only)."""
  features = _resolve_features(
      features, feature_key, num_features, query.shape[-1], "performer_weights"
  )
  tau = _checks.resolve_scale(scale, query.shape[-1])
  query_features, key_features = _feature_pair(query, key, key_mask, features, tau)
  return kernel_weights(query_features, key_features, key_mask)
