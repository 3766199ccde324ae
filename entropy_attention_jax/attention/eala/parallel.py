r"""Non-causal EALA in `O(L)` time and memory: statistics once, then per query.

With centred keys :math:`c_j = k_j - \bar k` (valid keys only), the output of
the linear weights :math:`w_j = \frac1L(1 + θ_q τ q\cdot c_j)` is

.. math:: o_q = \bar v + θ_q\, τ\, q^\top S, \qquad S = \frac1L \sum_j c_j v_j^\top,

so after one pass over the keys (`O(L d (d + d_v))`) each query costs
`O(d (d + d_v))` and no `[q_len, kv_len]` array is ever formed.
"""

from __future__ import annotations

import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention._common import AttentionResult
from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.entropy import estimators, stats
from entropy_attention_jax.typing import Array, PrecisionLike


def anchored_radius(centered: Array, key_mean: Array, anchor: Array, key_mask: Array | None) -> Array:
  """`max_j ||k_j − a|| + ||k̄ − a||` over valid keys, `[batch..., heads]`.

  Args:
    centered: masked centred keys, heads-major `[batch..., heads, kv_len, head_dim]`.
    key_mean: `[batch..., heads, head_dim]`.
    anchor: a, the first valid key, `[batch..., heads, head_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.
  """
  offset = key_mean - anchor  # k̄ − a
  shifted = centered + offset[..., None, :]  # k_j − a
  if key_mask is not None:
    shifted = shifted * key_mask[..., None]
  return jnp.max(theta_lib.key_norm(shifted), axis=-1) + theta_lib.key_norm(offset)


def parallel_eala(
    query: Array,
    key: Array,
    value: Array,
    *,
    key_mask: Array | None = None,
    estimator: str | estimators.EntropyEstimator = "cumulant2",
    nonneg: bool | str = False,
    scale: float | None = None,
    theta_scale: float = 1.0,
    fixed_theta: float | None = None,
    theta_solve: str = "second_order",
    precision: PrecisionLike = None,
) -> AttentionResult:
  """Non-causal entropy-equality linear attention, linear in `kv_len`.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    value: `[batch..., kv_len, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`; True keeps a key.
    estimator: entropy estimator name or object.
    nonneg: clamp θ so every weight is ≥ 0: False, True (``"anchored"``) or
      ``"centered"`` (see :func:`~.theta.resolve_nonneg`).
    scale: score scale τ; defaults to `1 / sqrt(head_dim)`.
    theta_scale: multiplies θ* (sharper > 1 > flatter).
    fixed_theta: use this θ instead of θ* (1 is the Taylor ablation).
    precision: einsum precision.

  Returns:
    An :class:`~entropy_attention_jax.attention.AttentionResult`: output
    float32 `[batch..., q_len, heads, v_dim]` (zeros for heads with no valid
    key), aux :class:`~.theta.EalaAux`, no final state (non-causal).
  """
  estimator = estimators.get_estimator(estimator)
  bound_kind = theta_lib.resolve_nonneg(nonneg, False, "parallel_eala")
  tau = _checks.resolve_scale(scale, query.shape[-1])
  key = stats.zero_invalid(key, key_mask)
  value = stats.zero_invalid(value, key_mask)
  # Heads-major throughout: every contraction is a batched matrix product.
  scaled_query = stats.heads_major(query.astype(jnp.float32) * tau)
  centered, key_mean, count = stats.centered_keys(key, key_mask)
  key_stats = stats.statistics_of_centered(
      centered, key_mean, count,
      third_moment=estimator.needs_third_moment, precision=precision,
  )
  value_mean, _ = stats.masked_mean(value, key_mask)
  # Masked keys are zero in `centered`, so they drop out of S by themselves.
  key_value = jnp.einsum(
      "...ld,...lv->...dv", centered, stats.heads_major(value.astype(jnp.float32)),
      precision=precision,
  ) / stats.safe_count(count)[..., None, None]

  moments = stats.heads_major_score_moments(scaled_query, key_stats, precision=precision)
  entropy_target = estimator(moments)
  bound = None
  if bound_kind is not None:
    if bound_kind == "centered":
      radius = key_stats.max_centered_norm
    else:
      anchor = theta_lib.first_valid_key(key, key_mask)
      radius = anchored_radius(centered, key_mean, anchor, key_mask)
    bound = theta_lib.nonneg_theta_bound(scaled_query, radius[..., None])
  theta = theta_lib.solve_theta(
      entropy_target, moments, bound=bound,
      theta_scale=theta_scale, fixed_theta=fixed_theta, theta_solve=theta_solve,
  )
  output = value_mean[..., None, :] + theta[..., None] * jnp.einsum(
      "...qd,...dv->...qv", scaled_query, key_value, precision=precision
  )
  per_query = lambda x: jnp.swapaxes(x, -1, -2)  # [batch..., heads, q_len] -> [..., q_len, heads]
  return AttentionResult(
      stats.heads_major(output), theta_lib.EalaAux(per_query(theta), per_query(entropy_target))
  )
