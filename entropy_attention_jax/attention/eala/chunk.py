"""Causal EALA, chunked-parallel: the training form.

The sequence is cut into chunks of `chunk_size`. Each chunk's key sums are
taken at once, and an exclusive prefix over the chunk axis gives the anchored
statistics of all earlier chunks (an :class:`EalaState` per chunk); inside a
chunk the queries add the earlier keys of their own chunk through a causally
masked `[chunk, chunk]` score block. Everything is batched over chunks — no
sequential scan. Memory per head is `O(L · d + L · chunk + (L / chunk) · d ·
(d + d_v))`, which is `O(L · d)` for `chunk ≥ d` (`(L / chunk) · d³` more with
a third-moment estimator); no `[L, L]` matrix and no `[L, d, d]` prefix tensor
is formed.
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
  chunk_axis = len(batch)

  def chunked(x):  # [batch..., length, *rest] -> [batch..., chunks, chunk, *rest]
    x = jnp.pad(x, [(0, 0)] * chunk_axis + [(0, pad)] + [(0, 0)] * (x.ndim - chunk_axis - 1))
    return x.reshape(*batch, num_chunks, chunk_size, *x.shape[chunk_axis + 1:])

  q, k, v, w = (chunked(x) for x in (scaled_query, anchored, value, weights))

  # Each chunk's own sums, then the state before every chunk: an exclusive
  # prefix over the chunk axis (all chunks at once, no sequential scan).
  empty = recurrent.init_state(
      (*batch, num_chunks), heads, key.shape[-1], value.shape[-1],
      third_moment=estimator.needs_third_moment,
  )
  own = recurrent.accumulate(empty, k, v, w, precision=precision)
  start_state = jax.tree.map(lambda x: jnp.expand_dims(x, chunk_axis), initial_state)
  before = own._replace(
      count=start_state.count + _exclusive(_cumsum, own.count, chunk_axis),
      anchor=jnp.broadcast_to(start_state.anchor, own.anchor.shape),
      key_sum=start_state.key_sum + _exclusive(_cumsum, own.key_sum, chunk_axis),
      value_sum=start_state.value_sum + _exclusive(_cumsum, own.value_sum, chunk_axis),
      key_outer_sum=start_state.key_outer_sum
      + _exclusive(_cumsum, own.key_outer_sum, chunk_axis),
      key_value_sum=start_state.key_value_sum
      + _exclusive(_cumsum, own.key_value_sum, chunk_axis),
      max_key_norm=jnp.maximum(
          start_state.max_key_norm, _exclusive(_cummax, own.max_key_norm, chunk_axis)
      ),
      key_cube_sum=None if own.key_cube_sum is None else start_state.key_cube_sum
      + _exclusive(_cumsum, own.key_cube_sum, chunk_axis),
  )

  # What each query sees: the state before its chunk plus the earlier keys of
  # its own chunk, through a causally masked [chunk, chunk] score block.
  carried = recurrent.sums_from_state(before, q, precision=precision)
  causal = jnp.tril(jnp.ones((chunk_size, chunk_size), bool))
  scores = jnp.where(causal, jnp.einsum("...ihd,...jhd->...hij", q, k, precision=precision), 0.0)
  per_query = lambda x: jnp.swapaxes(x, -1, -2)  # [..., heads, i] -> [..., i, heads]
  cube = None
  if carried.score_cube_sum is not None:
    cube = carried.score_cube_sum + per_query(jnp.sum(scores**3, -1))
  inclusive = causal.astype(jnp.float32)  # [i, j]: 1 where j <= i
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
      max_key_norm=jnp.maximum(carried.max_key_norm, _cummax(theta_lib.key_norm(k), k.ndim - 3)),
  )
  output, aux = prefix.attend_from_prefix_sums(
      sums, q, estimator=estimator, nonneg=bound, theta_scale=theta_scale,
      fixed_theta=fixed_theta,
  )

  final_state = initial_state._replace(
      count=initial_state.count + jnp.sum(own.count, chunk_axis),
      key_sum=initial_state.key_sum + jnp.sum(own.key_sum, chunk_axis),
      value_sum=initial_state.value_sum + jnp.sum(own.value_sum, chunk_axis),
      key_outer_sum=initial_state.key_outer_sum + jnp.sum(own.key_outer_sum, chunk_axis),
      key_value_sum=initial_state.key_value_sum + jnp.sum(own.key_value_sum, chunk_axis),
      max_key_norm=jnp.maximum(initial_state.max_key_norm, jnp.max(own.max_key_norm, chunk_axis)),
      key_cube_sum=None if own.key_cube_sum is None
      else initial_state.key_cube_sum + jnp.sum(own.key_cube_sum, chunk_axis),
  )

  def unchunked(x):  # inverse of `chunked`, padding removed
    x = x.reshape(*batch, num_chunks * chunk_size, *x.shape[chunk_axis + 2:])
    return x[(slice(None),) * chunk_axis + (slice(0, length),)]

  return unchunked(output), theta_lib.EalaAux(unchunked(aux.theta), unchunked(aux.entropy_target)), final_state


def _cummax(x: Array, axis: int) -> Array:
  return jax.lax.cummax(x, axis=axis % x.ndim)


def _cumsum(x: Array, axis: int) -> Array:
  # A log-depth scan: XLA:CPU lowers jnp.cumsum to a quadratic reduce-window.
  return jax.lax.associative_scan(jnp.add, x, axis=axis % x.ndim)


def _exclusive(scan, x: Array, axis: int) -> Array:
  """`scan` (cumsum or cummax) over `axis`, shifted by one: entry i covers 0..i-1.

  Both scans start from 0, the identity here (sums, and maxima of norms).
  """
  scanned = scan(x, axis=axis)
  first = jnp.zeros_like(jax.lax.slice_in_dim(scanned, 0, 1, axis=axis))
  return jnp.concatenate(
      [first, jax.lax.slice_in_dim(scanned, 0, scanned.shape[axis] - 1, axis=axis)], axis=axis
  )
