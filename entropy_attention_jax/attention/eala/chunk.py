"""Causal EALA, chunked-parallel: the training form.

The sequence is cut into chunks of `chunk_size`. A `lax.scan` carries the
anchored prefix sums of all earlier chunks (an :class:`EalaState`); inside a
chunk the queries see the carried state plus the earlier keys of their own
chunk through a causally masked `[chunk, chunk]` score block. Memory is
`O(L · d + chunk² + d²)` per head (`d³` with a third-moment estimator); no
`[L, L]` matrix and no `[L, d, d]` prefix tensor is formed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention.eala import prefix, recurrent
from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.entropy import estimators
from entropy_attention_jax.typing import Array, PrecisionLike


def chunk_eala(
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
    chunk_size: int = 64,
    initial_state: recurrent.EalaState | None = None,
    precision: PrecisionLike = None,
) -> tuple[Array, theta_lib.EalaAux, recurrent.EalaState]:
  """Causal entropy-equality linear attention, chunked-parallel.

  Query `i` attends to the valid keys `j ≤ i`; its row equals non-causal EALA
  of query `i` over `key[..., :i + 1, :, :]`.

  Args:
    query: `[batch..., length, heads, head_dim]`.
    key: `[batch..., length, heads, head_dim]`.
    value: `[batch..., length, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, length]`.
    chunk_size: keys per chunk (any length works; the last chunk is padded).
    initial_state: prefix state to continue from (e.g. a prompt's).
    estimator, nonneg, scale, theta_scale, fixed_theta, precision: as in
      :func:`~entropy_attention_jax.attention.eala_attention`.

  Returns:
    `(output, aux, final_state)`: float32 `[batch..., length, heads, v_dim]`,
    :class:`~.theta.EalaAux`, and the state after the last key (for decoding on with
    :func:`~entropy_attention_jax.attention.eala.recurrent.eala_step`).
  """
  fn_name = "chunk_eala"
  if chunk_size < 1:
    raise ValueError(f"{fn_name}: chunk_size must be >= 1, got {chunk_size}.")
  if query.shape[-3] != key.shape[-3]:
    raise ValueError(
        f"{fn_name}: causal attention needs q_len == kv_len, got query {query.shape}"
        f" and key {key.shape}."
    )
  estimator = estimators.get_estimator(estimator)
  bound = theta_lib.resolve_nonneg(nonneg, True, fn_name)
  batch, length, heads = key.shape[:-3], key.shape[-3], key.shape[-2]
  if initial_state is None:
    initial_state = recurrent.init_state(
        batch, heads, key.shape[-1], value.shape[-1], third_moment=estimator.needs_third_moment
    )
  recurrent.check_state(initial_state, estimator, fn_name)
  tau = _checks.resolve_scale(scale, query.shape[-1])

  # Anchor: the carried one if the state has keys, else this sequence's first valid key.
  anchor = jnp.where(
      (initial_state.count > 0)[..., None], initial_state.anchor,
      theta_lib.first_valid_key(key, key_mask),
  )
  initial_state = initial_state._replace(anchor=anchor)
  weights = (
      jnp.ones(key.shape[:-1], jnp.float32) if key_mask is None
      else jnp.swapaxes(key_mask, -1, -2).astype(jnp.float32)
  )
  anchored = (key.astype(jnp.float32) - anchor[..., None, :, :]) * weights[..., None]
  value = value.astype(jnp.float32) * weights[..., None]
  scaled_query = query.astype(jnp.float32) * tau

  chunk_size = min(chunk_size, length)
  num_chunks = -(-length // chunk_size)
  pad = num_chunks * chunk_size - length

  def chunked(x):  # [batch..., length, *rest] -> [chunks, batch..., chunk, *rest]
    x = jnp.pad(x, [(0, 0)] * len(batch) + [(0, pad)] + [(0, 0)] * (x.ndim - len(batch) - 1))
    x = x.reshape(*batch, num_chunks, chunk_size, *x.shape[len(batch) + 1:])
    return jnp.moveaxis(x, len(batch), 0)

  causal = jnp.tril(jnp.ones((chunk_size, chunk_size), bool))

  def body(state, inputs):
    q, k, v, w = inputs
    carried = recurrent.sums_from_state(state, q, precision=precision)
    scores = jnp.where(causal, jnp.einsum("...ihd,...jhd->...hij", q, k, precision=precision), 0.0)
    per_query = lambda x: jnp.swapaxes(x, -1, -2)  # [..., heads, i] -> [..., i, heads]
    cube = None
    if carried.score_cube_sum is not None:
      cube = carried.score_cube_sum + per_query(jnp.sum(scores**3, -1))
    running_norm = jax.lax.cummax(theta_lib.key_norm(k), axis=k.ndim - 3)
    # Running sums inside the chunk as a triangular matmul: XLA:CPU lowers
    # jnp.cumsum to a reduce-window that is quadratic in the chunk length.
    inclusive = causal.astype(jnp.float32)
    running = lambda x: jnp.einsum("ij,...jhe->...ihe", inclusive, x, precision=precision)
    sums = prefix.PrefixSums(
        count=carried.count + jnp.einsum("ij,...jh->...ih", inclusive, w),
        score_sum=carried.score_sum + per_query(jnp.sum(scores, -1)),
        score_sq_sum=carried.score_sq_sum + per_query(jnp.sum(scores**2, -1)),
        score_cube_sum=cube,
        value_sum=carried.value_sum + running(v),
        score_value_sum=carried.score_value_sum
        + jnp.einsum("...hij,...jhv->...ihv", scores, v, precision=precision),
        key_sum=carried.key_sum + running(k),
        max_key_norm=jnp.maximum(carried.max_key_norm, running_norm),
    )
    output, aux = prefix.attend_from_prefix_sums(
        sums, q, estimator=estimator, nonneg=bound, theta_scale=theta_scale,
        fixed_theta=fixed_theta,
    )
    state = recurrent.accumulate(state, k, v, w, precision=precision)
    return state, (output, aux.theta, aux.entropy_target)

  final_state, (output, theta, target) = jax.lax.scan(
      body, initial_state, tuple(chunked(x) for x in (scaled_query, anchored, value, weights))
  )

  def unchunked(x):  # inverse of `chunked`, padding removed
    x = jnp.moveaxis(x, 0, len(batch))
    x = x.reshape(*batch, num_chunks * chunk_size, *x.shape[len(batch) + 2:])
    return x[(slice(None),) * len(batch) + (slice(0, length),)]

  return unchunked(output), theta_lib.EalaAux(unchunked(theta), unchunked(target)), final_state
