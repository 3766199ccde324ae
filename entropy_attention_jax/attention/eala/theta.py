r"""The per-query sharpness θ shared by every EALA form.

EALA weights are :math:`w_j = \frac1L(1 + θ_q d_j)` with centred scores
:math:`d_j = s_j - \bar s`. They sum to 1, keep the softmax ranking for θ > 0
and, to second order, have entropy :math:`\log L - θ^2 σ_q^2 / 2`. Equating that
to the softmax-entropy estimate :math:`\hat H_q` gives

.. math:: θ^*_q = \sqrt{2 \max(\log L - \hat H_q, 0)} / σ_q .

The forms (naive, parallel, chunked, recurrent) differ only in how they
accumulate σ, Ĥ and the output; they all solve θ here.
"""

from __future__ import annotations

import jax.numpy as jnp

from entropy_attention_jax.entropy import stats
from entropy_attention_jax.typing import Array

# Below this score variance every d_j is ~0 and θ does not affect the output;
# θ is then reported as its small-spread limit, 1.
_MIN_VARIANCE = 1e-12


def matched_theta(entropy_target: Array, moments: stats.ScoreMoments) -> Array:
  """θ* = √(2·max(log L − Ĥ, 0)) / σ, with θ* = 1 where σ ≈ 0.

  Args:
    entropy_target: Ĥ, `[batch..., q_len, heads]`.
    moments: the same queries' score moments.

  Returns:
    θ* ≥ 0, `[batch..., q_len, heads]`.
  """
  log_count = jnp.log(stats.safe_count(moments.count))
  gap = jnp.maximum(log_count - entropy_target, 0.0)
  spread = moments.variance > _MIN_VARIANCE
  ratio = 2.0 * gap / jnp.where(spread, moments.variance, 1.0)
  # sqrt has an infinite derivative at 0; route zeros around it.
  positive = ratio > 0
  theta = jnp.where(positive, jnp.sqrt(jnp.where(positive, ratio, 1.0)), 0.0)
  return jnp.where(spread, theta, 1.0)


def nonneg_theta_bound(scaled_query: Array, key_radius: Array) -> Array:
  r"""Largest θ for which every weight is provably ≥ 0, in linear time.

  :math:`\max_j(-d_j) \le τ\lVert q\rVert \max_j \lVert k_j - \bar k\rVert`, so
  :math:`θ \le 1 / (τ \lVert q\rVert\, r)` keeps :math:`1 + θ d_j \ge 0`.

  Args:
    scaled_query: τ·q, `[batch..., q_len, heads, head_dim]`.
    key_radius: r = `max_j ||k_j − k̄||`, broadcastable to
      `[batch..., q_len, heads]`.

  Returns:
    The bound, `[batch..., q_len, heads]` (`inf` where τ‖q‖r = 0).
  """
  query_norm = jnp.sqrt(jnp.sum(scaled_query.astype(jnp.float32) ** 2, -1) + 1e-30)
  reach = query_norm * key_radius
  return jnp.where(reach > 0, 1.0 / jnp.where(reach > 0, reach, 1.0), jnp.inf)


def solve_theta(
    entropy_target: Array,
    moments: stats.ScoreMoments,
    *,
    bound: Array | None = None,
    theta_scale: float = 1.0,
    fixed_theta: float | None = None,
) -> Array:
  """θ for each query: matched (or fixed), scaled, then clamped to `bound`.

  Args:
    entropy_target: Ĥ, `[batch..., q_len, heads]`.
    moments: the queries' score moments.
    bound: optional upper bound from :func:`nonneg_theta_bound`.
    theta_scale: multiplies θ*; > 1 sharpens, < 1 flattens the weights.
    fixed_theta: use this θ for every query instead of θ* (1 gives the
      first-order Taylor ablation).

  Returns:
    `[batch..., q_len, heads]`.
  """
  if fixed_theta is None:
    theta = matched_theta(entropy_target, moments)
  else:
    theta = jnp.full(moments.variance.shape, fixed_theta, jnp.float32)
  theta = theta * theta_scale
  if bound is not None:
    theta = jnp.minimum(theta, bound)
  return theta
