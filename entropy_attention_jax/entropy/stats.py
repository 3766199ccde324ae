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
"""

from __future__ import annotations

from typing import NamedTuple

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


def safe_count(count: Array) -> Array:
  """The count with 0 replaced by 1, so that empty sums divide to 0, not NaN."""
  return jnp.maximum(count, 1.0)


def centered_keys(
    key: Array, key_mask: Array | None = None
) -> tuple[Array, Array, Array]:
  """Centres keys on their valid mean and zeroes the masked ones.

  Args:
    key: `[batch..., kv_len, heads, head_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.

  Returns:
    `(centered, mean, count)`: float32 `[batch..., kv_len, heads, head_dim]`,
    `[batch..., heads, head_dim]` and `[batch..., heads]`.
  """
  key = key.astype(jnp.float32)
  weights = key_weights(key, key_mask)
  count = jnp.sum(weights, axis=-2)
  mean = jnp.einsum("...lh,...lhd->...hd", weights, key) / safe_count(count)[..., None]
  centered = (key - mean[..., None, :, :]) * weights[..., None]
  return centered, mean, count


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
  """:func:`key_statistics` from the outputs of :func:`centered_keys`."""
  norm = safe_count(count)
  covariance = (
      jnp.einsum("...lhd,...lhe->...hde", centered, centered, precision=precision)
      / norm[..., None, None]
  )
  # The tiny offset keeps the gradient of the norm finite at zero.
  max_norm = jnp.max(jnp.sqrt(jnp.sum(centered**2, axis=-1) + 1e-30), axis=-2)
  third = None
  if third_moment:
    outer = jnp.einsum("...lhd,...lhe->...lhde", centered, centered)
    third = (
        jnp.einsum("...lhde,...lhf->...hdef", outer, centered, precision=precision)
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
  query = query.astype(jnp.float32) * scale
  projected = jnp.einsum(
      "...qhd,...hde->...qhe", query, stats.covariance, precision=precision
  )
  variance = jnp.maximum(jnp.sum(projected * query, axis=-1), 0.0)
  count = jnp.broadcast_to(stats.count[..., None, :], variance.shape)
  third = None
  if stats.third_moment is not None:
    outer = jnp.einsum("...qhd,...qhe->...qhde", query, query)
    contracted = jnp.einsum(
        "...qhde,...hdef->...qhf", outer, stats.third_moment, precision=precision
    )
    third = jnp.sum(contracted * query, axis=-1)
  return ScoreMoments(count, variance, third)
