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
from entropy_attention_jax.attention import _common
from entropy_attention_jax.attention.eala import prefix, recurrent
from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.entropy import estimators, stats
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
    theta_solve: str = "second_order",
    chunk_size: int = 64,
    segment_ids: Array | None = None,
    initial_state: recurrent.EalaState | None = None,
    output_final_state: bool = False,
    precision: PrecisionLike = None,
) -> _common.AttentionResult:
  """Causal entropy-equality linear attention, chunked-parallel.

  Query `i` attends to the valid keys `j ≤ i`; its row equals non-causal EALA
  of query `i` over `key[..., :i + 1, :, :]`.

  Args:
    query: `[batch..., length, heads, head_dim]`.
    key: `[batch..., length, heads, head_dim]`.
    value: `[batch..., length, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, length]`.
    chunk_size: keys per chunk (any length works; the last chunk is padded).
    segment_ids: optional integer `[batch..., length]` for packed sequences:
      a query sees only the earlier keys of its own (contiguous) segment, so
      the state resets at each boundary and each segment equals a call of its
      own; the final state is the last segment's.
    initial_state: prefix state to continue from (e.g. a prompt's); with
      `segment_ids` it continues the first segment.
    output_final_state: also return the state after the last key.
    estimator, nonneg, scale, theta_scale, fixed_theta, theta_solve, precision: as in
      :func:`~entropy_attention_jax.attention.eala_attention`.

  Returns:
    An :class:`~entropy_attention_jax.attention.AttentionResult`: output float32
    `[batch..., length, heads, v_dim]`, aux :class:`~.theta.EalaAux`, and with
    `output_final_state` the state after the last key (for decoding on with
    :func:`~entropy_attention_jax.attention.eala.recurrent.eala_step`), else None.
  """
  fn_name = "chunk_eala"
  if chunk_size < 1:
    raise ValueError(f"{fn_name}: chunk_size must be >= 1, got {chunk_size}.")
  _checks.check_causal_lengths(query, key, fn_name)
  estimator = estimators.get_estimator(estimator)
  bound = theta_lib.resolve_nonneg(nonneg, True, fn_name)
  batch, heads = key.shape[:-3], key.shape[-2]
  if initial_state is None:
    initial_state = recurrent.init_eala_state(
        batch, heads, key.shape[-1], value.shape[-1], third_moment=estimator.needs_third_moment
    )
  recurrent.check_state(initial_state, estimator, fn_name)
  tau = _checks.resolve_scale(scale, query.shape[-1])
  key = stats.zero_invalid(key, key_mask)
  value = stats.zero_invalid(value, key_mask)
  weights = stats.key_weights(key, key_mask)
  value = value.astype(jnp.float32) * weights[..., None]
  scaled_query = query.astype(jnp.float32) * tau
  if segment_ids is not None:
    final_state, (output, theta, target) = _segmented(
        scaled_query, key, value, weights, segment_ids, initial_state, chunk_size=chunk_size,
        estimator=estimator, nonneg=bound, theta_scale=theta_scale, fixed_theta=fixed_theta,
        theta_solve=theta_solve,
        precision=precision,
    )
  else:
    final_state, (output, theta, target) = _unsegmented(
        scaled_query, key, key_mask, value, weights, initial_state, chunk_size=chunk_size,
        estimator=estimator, nonneg=bound, theta_scale=theta_scale, fixed_theta=fixed_theta,
        theta_solve=theta_solve,
        precision=precision,
    )
  return _common.AttentionResult(
      output, theta_lib.EalaAux(theta, target), final_state if output_final_state else None
  )


def _unsegmented(scaled_query, key, key_mask, value, weights, initial_state, *, chunk_size,
                 estimator, nonneg, theta_scale, fixed_theta, theta_solve, precision):
  """:func:`chunk_eala` of one sequence (inputs already masked and float32)."""
  # Anchor: the carried one if the state has keys, else this sequence's first valid key.
  anchor = jnp.where(
      (initial_state.count > 0)[..., None], initial_state.anchor,
      theta_lib.first_valid_key(key, key_mask),
  )
  initial_state = initial_state._replace(anchor=anchor)
  anchored = (key.astype(jnp.float32) - anchor[..., None, :, :]) * weights[..., None]

  def body(state, inputs, causal):
    q, k, v, w = inputs
    carried = recurrent.sums_from_state(state, q, precision=precision)
    scores = jnp.where(causal, jnp.einsum("...ihd,...jhd->...hij", q, k, precision=precision), 0.0)
    running_norm = jax.lax.cummax(theta_lib.key_norm(k), axis=k.ndim - 3)
    # Running sums inside the chunk as a triangular matmul: XLA:CPU lowers
    # jnp.cumsum to a reduce-window that is quadratic in the chunk length.
    inclusive = causal.astype(jnp.float32)
    running = lambda x: jnp.einsum("ij,...jhe->...ihe", inclusive, x, precision=precision)
    sums = _block_sums(
        carried, scores, k, v, jnp.einsum("ij,...jh->...ih", inclusive, w), running,
        running_norm, precision,
    )
    output, aux = prefix.attend_from_prefix_sums(
        sums, q, estimator=estimator, nonneg=nonneg, theta_scale=theta_scale,
        fixed_theta=fixed_theta, theta_solve=theta_solve,
    )
    state = recurrent.accumulate(state, k, v, w, precision=precision)
    return state, (output, aux.theta, aux.entropy_target)

  return _common.chunked_scan(
      body, initial_state, (scaled_query, anchored, value, weights),
      num_batch=key.ndim - 3, chunk_size=chunk_size,
  )


def _block_sums(carried, scores, k, v, block_count, running, running_norm, precision):
  """Prefix sums of a chunk's queries: the carried state's plus the visible block keys.

  Args:
    carried: :class:`~.prefix.PrefixSums` from the state (masked as needed).
    scores: the block's visible scores, zero elsewhere, `[batch..., heads, i, j]`.
    k, v: the block's anchored keys and values.
    block_count: visible valid keys in the block per query, `[batch..., i, heads]`.
    running: `x [..., j, heads, e] -> Σ_visible j x`, `[..., i, heads, e]`.
    running_norm: max ||k'|| over the visible block keys, `[batch..., i, heads]`.
    precision: einsum precision.
  """
  per_query = lambda x: jnp.swapaxes(x, -1, -2)  # [..., heads, i] -> [..., i, heads]
  cube = None
  if carried.score_cube_sum is not None:
    cube = carried.score_cube_sum + per_query(jnp.sum(scores**3, -1))
  return prefix.PrefixSums(
      count=carried.count + block_count,
      score_sum=carried.score_sum + per_query(jnp.sum(scores, -1)),
      score_sq_sum=carried.score_sq_sum + per_query(jnp.sum(scores**2, -1)),
      score_cube_sum=cube,
      value_sum=carried.value_sum + running(v),
      score_value_sum=carried.score_value_sum
      + jnp.einsum("...hij,...jhv->...ihv", scores, v, precision=precision),
      key_sum=carried.key_sum + running(k),
      max_key_norm=jnp.maximum(carried.max_key_norm, running_norm),
  )


def segment_anchors(key: Array, weights: Array, segment_ids: Array) -> tuple[Array, Array]:
  """Each position's anchor (its segment's first valid key) and segment starts.

  Args:
    key: `[batch..., length, heads, head_dim]`, zero on invalid keys.
    weights: validity `[batch..., length, heads]`.
    segment_ids: `[batch..., length]` integers, constant on each segment.

  Returns:
    `(anchors, starts)`: float32 `[batch..., length, heads, head_dim]` and
    boolean `[batch..., length]` (True where a segment begins).
  """
  length = key.shape[-3]
  starts = jnp.concatenate(
      [jnp.ones_like(segment_ids[..., :1], bool), segment_ids[..., 1:] != segment_ids[..., :-1]],
      axis=-1,
  )
  number = jnp.cumsum(starts, axis=-1) - 1  # [batch..., length], 0, 1, ... per segment
  positions = jnp.arange(length)[:, None]
  candidates = jnp.where(weights > 0, positions, length)  # [batch..., length, heads]
  heads = candidates.shape[-1]
  flat_number = jnp.broadcast_to(number[..., None], candidates.shape)
  flat = lambda x: jnp.swapaxes(x, -1, -2).reshape(-1, length)
  first = jax.vmap(lambda c, n: jax.ops.segment_min(c, n, num_segments=length)[n])(
      flat(candidates), flat(flat_number)
  )
  first = jnp.swapaxes(first.reshape(*candidates.shape[:-2], heads, length), -1, -2)
  first = jnp.minimum(first, length - 1)
  anchors = jnp.take_along_axis(key.astype(jnp.float32), first[..., None], axis=-3)
  return anchors, starts


def _segmented(scaled_query, key, value, weights, segment_ids, initial_state, *, chunk_size,
               estimator, nonneg, theta_scale, fixed_theta, theta_solve, precision):
  """:func:`chunk_eala` for packed sequences (inputs already masked and float32)."""
  batch, length = key.shape[:-3], key.shape[-3]
  segment_ids = jnp.broadcast_to(jnp.asarray(segment_ids), (*batch, length))
  anchors, _ = segment_anchors(key, weights, segment_ids)
  # The initial state continues the first segment: its anchor, if it has keys.
  continues = (initial_state.count > 0)[..., None]
  first_segment = (segment_ids == segment_ids[..., :1])[..., None, None]
  anchors = jnp.where(first_segment & continues[..., None, :, :], initial_state.anchor[..., None, :, :], anchors)
  initial_state = initial_state._replace(
      anchor=jnp.where(continues, initial_state.anchor, anchors[..., 0, :, :])
  )
  anchored = (key.astype(jnp.float32) - anchors) * weights[..., None]

  empty = jax.tree.map(jnp.zeros_like, initial_state)

  def body(carry, inputs, causal):
    state, carried_segment = carry
    q, k, v, w, segment, anchor = inputs
    # Queries continuing the carried segment see the carried state; in the block,
    # query i sees keys j <= i of its own segment.
    continued = (segment == carried_segment[..., None]).astype(jnp.float32)  # [batch..., chunk]
    visible = causal & (segment[..., :, None] == segment[..., None, :])  # [batch..., i, j]
    seen = visible.astype(jnp.float32)
    carried = recurrent.sums_from_state(state, q, precision=precision)
    carried = jax.tree.map(
        lambda x: x * continued.reshape(continued.shape + (1,) * (x.ndim - continued.ndim)), carried
    )
    scores = jnp.where(
        visible[..., None, :, :], jnp.einsum("...ihd,...jhd->...hij", q, k, precision=precision), 0.0
    )
    norms = theta_lib.key_norm(k)  # [batch..., chunk, heads]
    running_norm = jnp.max(jnp.where(visible[..., None], norms[..., None, :, :], 0.0), axis=-2)
    running = lambda x: jnp.einsum("...ij,...jhe->...ihe", seen, x, precision=precision)
    sums = _block_sums(
        carried, scores, k, v, jnp.einsum("...ij,...jh->...ih", seen, w), running,
        running_norm, precision,
    )
    output, aux = prefix.attend_from_prefix_sums(
        sums, q, estimator=estimator, nonneg=nonneg, theta_scale=theta_scale,
        fixed_theta=fixed_theta, theta_solve=theta_solve,
    )
    # The state after the chunk is its last segment's.
    last = segment[..., -1]
    in_last = (segment == last[..., None]).astype(jnp.float32)[..., None]  # [batch..., chunk, 1]
    reset = last != carried_segment
    base = jax.tree.map(
        lambda fresh, old: jnp.where(reset.reshape(reset.shape + (1,) * (old.ndim - reset.ndim)), fresh, old),
        empty._replace(anchor=anchor[..., -1, :, :]), state,
    )
    state = recurrent.accumulate(
        base, k * in_last[..., None], v * in_last[..., None], w * in_last, precision=precision
    )
    return (state, last), (output, aux.theta, aux.entropy_target)

  (final_state, _), outputs = _common.chunked_scan(
      body, (initial_state, segment_ids[..., 0]),
      (scaled_query, anchored, value, weights, segment_ids, anchors),
      num_batch=len(batch), chunk_size=chunk_size, edge=(False,) * 4 + (True, True),
  )
  return final_state, outputs
