"""The definition of EALA, materialised: `O(q_len · kv_len)`, float32.

Every quantity is computed from the explicit score matrix, row by row over the
keys each query sees, independently of the key-statistics shortcuts of the
linear-time forms, which are tested against it. It serves tests, plots and
notebooks, and is the cheaper form for sequences shorter than the head
dimension (see :mod:`.forms`).
"""

from __future__ import annotations

import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention._common import AttentionResult
from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.entropy import estimators, stats
from entropy_attention_jax.typing import Array, PrecisionLike


def naive_eala(
    query: Array,
    key: Array,
    value: Array,
    *,
    key_mask: Array | None = None,
    causal: bool = False,
    segment_ids: Array | None = None,
    estimator: str | estimators.EntropyEstimator = "cumulant2",
    nonneg: bool | str = False,
    scale: float | None = None,
    theta_scale: float = 1.0,
    fixed_theta: float | None = None,
    theta_solve: str = "second_order",
    initial_state: None = None,
    output_final_state: bool = False,
    precision: PrecisionLike = None,
) -> AttentionResult:
  """EALA with the weights formed explicitly.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    value: `[batch..., kv_len, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.
    causal: query `i` sees keys `j ≤ i` only.
    segment_ids: optional integer `[batch..., kv_len]` (`q_len == kv_len`):
      a query sees only keys of its own segment (packed sequences).
    estimator, nonneg, scale, theta_scale, fixed_theta, theta_solve, precision: as in
      :func:`~entropy_attention_jax.attention.eala_attention`.
    initial_state, output_final_state: taken for the common contract of the
      forms; the materialised form carries no state, so they must be None and
      False (use :func:`~.chunk.chunk_eala` for a state).

  Returns:
    An :class:`~entropy_attention_jax.attention.AttentionResult`: output
    float32 `[batch..., q_len, heads, v_dim]`, aux :class:`~.theta.EalaAux`,
    no final state. The weights themselves: :func:`eala_weights`.

  Raises:
    ValueError: a state asked for.
  """
  if initial_state is not None or output_final_state:
    raise ValueError(
        "naive_eala: the materialised form carries no state; use chunk_eala or"
        " recurrent_eala for initial_state / output_final_state."
    )
  output, _, aux = _materialised(
      query, key, value, key_mask=key_mask, causal=causal, segment_ids=segment_ids,
      estimator=estimator, nonneg=nonneg, scale=scale, theta_scale=theta_scale,
      fixed_theta=fixed_theta, theta_solve=theta_solve, precision=precision,
  )
  return AttentionResult(output, aux)


def eala_weights(
    query: Array,
    key: Array,
    *,
    key_mask: Array | None = None,
    causal: bool = False,
    segment_ids: Array | None = None,
    estimator: str | estimators.EntropyEstimator = "cumulant2",
    nonneg: bool | str = False,
    scale: float | None = None,
    theta_scale: float = 1.0,
    fixed_theta: float | None = None,
    theta_solve: str = "second_order",
    precision: PrecisionLike = None,
) -> tuple[Array, theta_lib.EalaAux]:
  """The EALA weights themselves, `O(q_len · kv_len)` (diagnostics, plots, tests).

  Args: as :func:`naive_eala`, without `value`.

  Returns:
    `(weights, aux)`: float32 `[batch..., heads, q_len, kv_len]` (zero on
    keys a query does not see) and :class:`~.theta.EalaAux`.
  """
  _, weights, aux = _materialised(
      query, key, None, key_mask=key_mask, causal=causal, segment_ids=segment_ids,
      estimator=estimator, nonneg=nonneg, scale=scale, theta_scale=theta_scale,
      fixed_theta=fixed_theta, theta_solve=theta_solve, precision=precision,
  )
  return weights, aux


def _materialised(query, key, value, *, key_mask, causal, segment_ids, estimator, nonneg,
                  scale, theta_scale, fixed_theta, theta_solve, precision):
  """`(output or None, weights, aux)` from the explicit score matrix."""
  estimator = estimators.get_estimator(estimator)
  bound_kind = theta_lib.resolve_nonneg(nonneg, causal, "naive_eala")
  tau = _checks.resolve_scale(scale, query.shape[-1])
  query = query.astype(jnp.float32)
  key = stats.zero_invalid(key, key_mask).astype(jnp.float32)
  if value is not None:
    value = stats.zero_invalid(value, key_mask)
  q_len, kv_len, heads = query.shape[-3], key.shape[-3], key.shape[-2]
  scores = tau * jnp.einsum("...qhd,...khd->...hqk", query, key, precision=precision)
  if key_mask is None:
    key_mask = jnp.ones((*key.shape[:-3], heads, kv_len), bool)
  visible = key_mask[..., None, :]  # [batch..., heads, 1, kv_len]
  if causal:
    visible = visible & jnp.tril(jnp.ones((q_len, kv_len), bool))
  if segment_ids is not None:
    segment_ids = jnp.asarray(segment_ids)[..., None, :]  # [batch..., 1, length]
    visible = visible & (segment_ids[..., :, None] == segment_ids[..., None, :])
  visible = jnp.broadcast_to(visible, scores.shape)
  count = jnp.sum(visible, axis=-1).astype(jnp.float32)  # [batch..., heads, q_len]
  norm = stats.safe_count(count)
  mean_score = jnp.sum(jnp.where(visible, scores, 0.0), -1) / norm
  centred = jnp.where(visible, scores - mean_score[..., None], 0.0)

  def per_query(x):  # [batch..., heads, q_len] -> [batch..., q_len, heads]
    return jnp.swapaxes(x, -1, -2)

  moments = stats.ScoreMoments(
      count=per_query(count),
      variance=per_query(jnp.sum(centred**2, -1) / norm),
      third_cumulant=per_query(jnp.sum(centred**3, -1) / norm),
  )
  entropy_target = estimator(moments)
  bound = None
  if bound_kind is not None:
    # Each query's own visible keys: mean k̄ [batch..., heads, q_len, head_dim].
    keys = jnp.swapaxes(key, -2, -3)[..., None, :, :]  # [batch..., heads, 1, kv_len, head_dim]
    key_mean = jnp.sum(jnp.where(visible[..., None], keys, 0.0), -2) / norm[..., None]
    if bound_kind == "centered":
      distances = theta_lib.key_norm(keys - key_mean[..., None, :])
      radius = jnp.max(jnp.where(visible, distances, 0.0), -1)
    else:
      if segment_ids is None:
        anchor = theta_lib.first_valid_key(key, key_mask)[..., None, None, :]
      else:  # each query's first visible key
        first = visible & (jnp.cumsum(visible, axis=-1) == 1)
        anchor = jnp.sum(jnp.where(first[..., None], keys, 0.0), -2)[..., None, :]
      distances = theta_lib.key_norm(keys - anchor)
      radius = jnp.max(jnp.where(visible, distances, 0.0), -1) + theta_lib.key_norm(
          key_mean - anchor[..., 0, :]
      )
    radius = jnp.where(count > 0, radius, 0.0)  # no visible key: no bound
    bound = theta_lib.nonneg_theta_bound(query * tau, per_query(radius))
  if not estimator.needs_third_moment:  # as the linear-time forms, which lack κ₃ then
    moments = moments._replace(third_cumulant=None)
  theta = theta_lib.solve_theta(
      entropy_target, moments, bound=bound, theta_scale=theta_scale, fixed_theta=fixed_theta,
      theta_solve=theta_solve
  )
  weights = jnp.where(
      visible, (1.0 + per_query(theta)[..., None] * centred) / norm[..., None], 0.0
  )
  output = None
  if value is not None:
    output = jnp.einsum(
        "...hqk,...khv->...qhv", weights, value.astype(jnp.float32), precision=precision
    )
  return output, weights, theta_lib.EalaAux(theta, entropy_target)
