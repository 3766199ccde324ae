"""The definition of EALA, materialised: `O(q_len · kv_len)`, float32.

Every quantity is computed from the explicit score matrix, independently of
the key-statistics shortcuts of the fast forms, which are tested against it.
Use it for tests, plots and notebooks at small sizes only.
"""

from __future__ import annotations

import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.attention.eala.parallel import EalaAux
from entropy_attention_jax.entropy import estimators, stats
from entropy_attention_jax.typing import Array


def naive_eala(
    query: Array,
    key: Array,
    value: Array | None = None,
    *,
    key_mask: Array | None = None,
    estimator: str | estimators.EntropyEstimator = "cumulant2",
    nonneg: bool = False,
    scale: float | None = None,
    theta_scale: float = 1.0,
    fixed_theta: float | None = None,
) -> tuple[Array | None, Array, EalaAux]:
  """EALA with the weights formed explicitly.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    value: optional `[batch..., kv_len, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.
    estimator, nonneg, scale, theta_scale, fixed_theta: as in
      :func:`~entropy_attention_jax.attention.eala.parallel.parallel_eala`.

  Returns:
    `(output, weights, aux)`: output `[batch..., q_len, heads, v_dim]` (None
    without `value`), weights `[batch..., heads, q_len, kv_len]` (zero on
    masked keys) and :class:`EalaAux`.
  """
  estimator = estimators.get_estimator(estimator)
  tau = _checks.resolve_scale(scale, query.shape[-1])
  query = query.astype(jnp.float32)
  key = key.astype(jnp.float32)
  scores = tau * jnp.einsum("...qhd,...khd->...hqk", query, key)
  if key_mask is None:
    key_mask = jnp.ones((*key.shape[:-3], key.shape[-2], key.shape[-3]), bool)
  valid = jnp.broadcast_to(key_mask[..., None, :], scores.shape)
  count = jnp.sum(valid, axis=-1).astype(jnp.float32)  # [batch..., heads, q_len]
  norm = stats.safe_count(count)
  mean_score = jnp.sum(jnp.where(valid, scores, 0.0), -1) / norm
  centred = jnp.where(valid, scores - mean_score[..., None], 0.0)

  def per_query(x):  # [batch..., heads, q_len] -> [batch..., q_len, heads]
    return jnp.swapaxes(x, -1, -2)

  moments = stats.ScoreMoments(
      count=per_query(count),
      variance=per_query(jnp.sum(centred**2, -1) / norm),
      third_cumulant=per_query(jnp.sum(centred**3, -1) / norm),
  )
  entropy_target = estimator(moments)
  bound = None
  if nonneg:
    keep = jnp.swapaxes(key_mask, -1, -2)[..., None]  # [batch..., kv_len, heads, 1]
    key_mean = jnp.sum(jnp.where(keep, key, 0.0), -3) / stats.safe_count(
        jnp.sum(keep, -3).astype(jnp.float32)
    )
    distances = jnp.sqrt(jnp.sum((key - key_mean[..., None, :, :]) ** 2, -1) + 1e-30)
    radius = jnp.max(jnp.where(keep[..., 0], distances, 0.0), axis=-2)
    bound = theta_lib.nonneg_theta_bound(query * tau, radius[..., None, :])
  theta = theta_lib.solve_theta(
      entropy_target, moments, bound=bound,
      theta_scale=theta_scale, fixed_theta=fixed_theta,
  )
  weights = jnp.where(
      valid, (1.0 + per_query(theta)[..., None] * centred) / norm[..., None], 0.0
  )
  output = None
  if value is not None:
    output = jnp.einsum("...hqk,...khv->...qhv", weights, value.astype(jnp.float32))
  return output, weights, EalaAux(theta, entropy_target)
