r"""Key statistics and per-query score moments: the linear-time ingredients.

For one head with keys :math:`k_1..k_L` (only the valid ones under a padding
mask), mean :math:`\bar k` and centred keys :math:`c_j = k_j - \bar k`, the
centred scores of query :math:`q` are :math:`d_j = \tau\, q \cdot c_j`. Their
moments over the keys are quadratic forms in `q` of the key moment tensors:

* variance :math:`\sigma_q^2 = \tau^2 q^\top C q`, with
  :math:`C = \frac1L \sum_j c_j c_j^\top` — `O(L d^2)` once, `O(d^2)` per query;
* third cumulant :math:`\kappa_3 = \tau^3 \sum_{abc} q_a q_b q_c T_{abc}`, with
  :math:`T = \frac1L \sum_j c_j^{\otimes 3}` — `O(L d^3)` once, `O(d^3)` per
  query (fine for head dims up to 32).

Statistics are always accumulated in float32, whatever the input dtype.
Internally the arrays are *heads-major* (`[batch..., heads, length, depth]`):
XLA then runs each contraction as a plain batched matrix product.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from entropy_attention_jax.typing import Array, PrecisionLike


class KeyStatistics(NamedTuple):
  """Moments of the (valid) keys of each head.

  Attributes:
    count: number of valid keys, float32 `[batch..., heads]`.
    mean: `[batch..., heads, head_dim]`; zeros where `count == 0`.
    covariance: `[batch..., heads, head_dim, head_dim]`, normalised by `count`.
    max_centered_norm: `max_j ||k_j - mean||` over valid keys,
      `[batch..., heads]`; bounds the most negative centred score.
    third_moment: `[batch..., heads, head_dim, head_dim, head_dim]` central
      third moment, or None when not requested.
  """

  count: Array
  mean: Array
  covariance: Array
  max_centered_norm: Array
  third_moment: Array | None = None


class ScoreMoments(NamedTuple):
  """Moments of each query's centred scores over the valid keys.

  Attributes:
    count: number of valid keys, broadcast to `[batch..., q_len, heads]`.
    variance: σ², `[batch..., q_len, heads]`.
    third_cumulant: κ₃, `[batch..., q_len, heads]`, or None.
  """

  count: Array
  variance: Array
  third_cumulant: Array | None = None


def key_weights(key: Array, key_mask: Array | None) -> Array:
  """Float32 validity weights `[batch..., kv_len, heads]` (ones without a mask)."""
  if key_mask is None:
    return jnp.ones(key.shape[:-1], jnp.float32)
  return jnp.swapaxes(key_mask, -1, -2).astype(jnp.float32)


def zero_invalid(x: Array, key_mask: Array | None) -> Array:
  """`x` `[batch..., kv_len, heads, depth]` with masked positions set to 0.

  A select, not a product with the mask: a NaN or inf in padding (often
  uninitialised memory) must not reach the output or the gradients.
  """
  if key_mask is None:
    return x
  return jnp.where(jnp.swapaxes(key_mask, -1, -2)[..., None], x, jnp.zeros((), x.dtype))


def safe_count(count: Array) -> Array:
  """The count with 0 replaced by 1, so that empty sums divide to 0, not NaN."""
  return jnp.maximum(count, 1.0)


def heads_major(x: Array) -> Array:
  """`[batch..., length, heads, depth]` -> `[batch..., heads, length, depth]`."""
  return jnp.swapaxes(x, -2, -3)


def centered_keys(
    key: Array, key_mask: Array | None = None
) -> tuple[Array, Array, Array]:
  """Centres keys on their valid mean, zeroes the masked ones, goes heads-major.

  Args:
    key: `[batch..., kv_len, heads, head_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.

  Returns:
    `(centered, mean, count)`: float32 heads-major
    `[batch..., heads, kv_len, head_dim]`, `[batch..., heads, head_dim]` and
    `[batch..., heads]`.
  """
  key = zero_invalid(key, key_mask).astype(jnp.float32)
  mean, count = masked_mean(key, key_mask)
  # The means are taken in the input layout and the transpose fuses with the
  # subtraction, so the keys are copied once.
  centered = heads_major(key) - mean[..., None, :]
  if key_mask is not None:
    centered = centered * key_mask[..., None].astype(jnp.float32)
  return centered, mean, count


def masked_mean(x: Array, key_mask: Array | None) -> tuple[Array, Array]:
  """Mean over the valid positions and their count.

  Args:
    x: `[batch..., kv_len, heads, depth]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.

  Returns:
    `(mean, count)`: float32 `[batch..., heads, depth]` (zeros without valid
    positions) and `[batch..., heads]`.
  """
  x = zero_invalid(x, key_mask).astype(jnp.float32)
  if key_mask is None:
    return jnp.mean(x, axis=-3), jnp.full(x.shape[:-3] + x.shape[-2:-1], x.shape[-3], jnp.float32)
  weights = key_weights(x, key_mask)
  count = jnp.sum(weights, axis=-2)
  return jnp.einsum("...lh,...lhd->...hd", weights, x) / safe_count(count)[..., None], count


def key_statistics(
    key: Array,
    key_mask: Array | None = None,
    *,
    third_moment: bool = False,
    precision: PrecisionLike = None,
) -> KeyStatistics:
  """Computes the key moments that linear-time entropy estimates need.

  Args:
    key: `[batch..., kv_len, heads, head_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`; True keeps a key.
    third_moment: also compute the `head_dim³` central third-moment tensor.
    precision: einsum precision.

  Returns:
    A :class:`KeyStatistics`; time `O(kv_len · head_dim²)` (`head_dim³` with
    `third_moment`), memory independent of `kv_len` beyond the input.
  """
  centered, mean, count = centered_keys(key, key_mask)
  return statistics_of_centered(
      centered, mean, count, third_moment=third_moment, precision=precision
  )


def statistics_of_centered(
    centered: Array,
    mean: Array,
    count: Array,
    *,
    third_moment: bool = False,
    precision: PrecisionLike = None,
) -> KeyStatistics:
  """:func:`key_statistics` from the (heads-major) outputs of :func:`centered_keys`."""
  norm = safe_count(count)
  covariance = (
      jnp.einsum("...ld,...le->...de", centered, centered, precision=precision)
      / norm[..., None, None]
  )
  # The tiny offset keeps the gradient of the norm finite at zero.
  max_norm = jnp.max(jnp.sqrt(jnp.einsum("...ld,...ld->...l", centered, centered) + 1e-30), axis=-1)
  third = None
  if third_moment:
    outer = jnp.einsum("...ld,...le->...lde", centered, centered)
    third = (
        jnp.einsum("...lde,...lf->...def", outer, centered, precision=precision)
        / norm[..., None, None, None]
    )
  return KeyStatistics(count, mean, covariance, max_norm, third)


def score_moments(
    query: Array,
    stats: KeyStatistics,
    scale: float,
    *,
    precision: PrecisionLike = None,
) -> ScoreMoments:
  """Per-query moments of the centred scores, from the key statistics.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    stats: key statistics of the same heads.
    scale: the score scale τ.
    precision: einsum precision.

  Returns:
    A :class:`ScoreMoments` with `[batch..., q_len, heads]` fields.
  """
  scaled = heads_major(query.astype(jnp.float32) * scale)
  moments = heads_major_score_moments(scaled, stats, precision=precision)
  return jax.tree.map(lambda x: jnp.swapaxes(x, -1, -2), moments)


def heads_major_score_moments(
    scaled_query: Array, stats: KeyStatistics, *, precision: PrecisionLike = None
) -> ScoreMoments:
  """:func:`score_moments` for τ·q `[batch..., heads, q_len, head_dim]`.

  Returns:
    A :class:`ScoreMoments` with `[batch..., heads, q_len]` fields.
  """
  q = scaled_query
  projected = jnp.einsum("...qd,...de->...qe", q, stats.covariance, precision=precision)
  # A dot over the last axis, not sum(a * b, -1): XLA:CPU runs the latter slowly.
  variance = jnp.maximum(jnp.einsum("...qd,...qd->...q", projected, q), 0.0)
  count = jnp.broadcast_to(stats.count[..., None], variance.shape)
  third = None
  if stats.third_moment is not None:
    pairs = jnp.einsum("...qd,...qe->...qde", q, q)
    contracted = jnp.einsum("...qde,...def->...qf", pairs, stats.third_moment, precision=precision)
    third = jnp.einsum("...qf,...qf->...q", contracted, q)
  return ScoreMoments(count, variance, third)
