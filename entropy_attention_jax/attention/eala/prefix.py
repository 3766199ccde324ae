r"""Shared maths of the causal forms: from prefix sums to the output.

In the causal forms query `i` sees the valid keys `j ≤ i`. Every statistic EALA
needs is a sum over those keys, taken in an *anchored* frame
:math:`k'_j = k_j - a` whose origin `a` is the first valid key (so that raw
second and third moments do not cancel catastrophically when keys share a large
offset). With scaled query :math:`\tilde q = τ q` and :math:`x_j = \tilde q \cdot k'_j`:

* variance :math:`σ^2 = \overline{x^2} - \bar x^2`,
* third cumulant :math:`κ_3 = \overline{x^3} - 3 \bar x\, \overline{x^2} + 2 \bar x^3`,
* :math:`\tilde q^\top S = \overline{x v} - \bar x\, \bar v` and output
  :math:`\bar v + θ\, \tilde q^\top S`.

The chunked and recurrent forms only differ in how they accumulate these sums.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.entropy import estimators, stats
from entropy_attention_jax.typing import Array


class PrefixSums(NamedTuple):
  """Per-query sums over the visible keys, in the anchored frame.

  Attributes:
    count: number of visible valid keys, `[batch..., q_len, heads]`.
    score_sum: Σ x_j, `[batch..., q_len, heads]`.
    score_sq_sum: Σ x_j², `[batch..., q_len, heads]`.
    score_cube_sum: Σ x_j³ or None, `[batch..., q_len, heads]`.
    value_sum: Σ v_j, `[batch..., q_len, heads, v_dim]`.
    score_value_sum: Σ x_j v_j, `[batch..., q_len, heads, v_dim]`.
    key_sum: Σ k'_j, `[batch..., q_len, heads, head_dim]`.
    max_key_norm: max_j ||k'_j||, `[batch..., q_len, heads]`.
  """

  count: Array
  score_sum: Array
  score_sq_sum: Array
  score_cube_sum: Array | None
  value_sum: Array
  score_value_sum: Array
  key_sum: Array
  max_key_norm: Array


def attend_from_prefix_sums(
    sums: PrefixSums,
    scaled_query: Array,
    *,
    estimator: estimators.EntropyEstimator,
    nonneg: str | None,
    theta_scale: float,
    fixed_theta: float | None,
    theta_solve: str = "second_order",
) -> tuple[Array, theta_lib.EalaAux]:
  """EALA outputs from per-query prefix sums.

  Args:
    sums: the :class:`PrefixSums` of each query.
    scaled_query: τ·q, `[batch..., q_len, heads, head_dim]`.
    estimator: the entropy estimator (its third moment needs `score_cube_sum`).
    nonneg: None or ``"anchored"`` (the only prefix-computable bound).
    theta_scale: multiplies θ*.
    fixed_theta: θ for every query instead of θ*.

  Returns:
    `(output, aux)`: float32 `[batch..., q_len, heads, v_dim]` (zeros for a
    query that sees no valid key) and :class:`~.theta.EalaAux`.
  """
  norm = stats.safe_count(sums.count)
  mean = sums.score_sum / norm
  second = sums.score_sq_sum / norm
  third = None
  if sums.score_cube_sum is not None:
    third = sums.score_cube_sum / norm - 3 * mean * second + 2 * mean**3
  moments = stats.ScoreMoments(sums.count, jnp.maximum(second - mean**2, 0.0), third)
  entropy_target = estimator(moments)
  bound = None
  if nonneg is not None:
    radius = sums.max_key_norm + theta_lib.key_norm(sums.key_sum / norm[..., None])
    bound = theta_lib.nonneg_theta_bound(scaled_query, radius)
  theta = theta_lib.solve_theta(
      entropy_target, moments, bound=bound, theta_scale=theta_scale, fixed_theta=fixed_theta,
      theta_solve=theta_solve,
  )
  value_mean = sums.value_sum / norm[..., None]
  projected = sums.score_value_sum / norm[..., None] - mean[..., None] * value_mean
  return value_mean + theta[..., None] * projected, theta_lib.EalaAux(theta, entropy_target)
