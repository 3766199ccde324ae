"""Causal EALA as a recurrence: an `O(1)` state per head, one step per token.

The state holds the anchored prefix sums (count, Σk', Σv, Σk'k'ᵀ, Σk'vᵀ, the
largest ||k'||, and Σk'^{⊗3} when the estimator needs a third moment), so each
decoding step costs `O(head_dim · (head_dim + v_dim))` whatever its position.
It is a NamedTuple, hence a pytree: it goes through `jax.lax.scan`, `jit`, a
decode cache and Orbax unchanged.
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import grouping
from entropy_attention_jax.attention._common import AttentionResult
from entropy_attention_jax.attention.eala import prefix
from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.entropy import estimators
from entropy_attention_jax.typing import Array, PrecisionLike, Shape


class EalaState(NamedTuple):
  """Prefix statistics of the valid keys seen so far, in the anchored frame.

  Attributes:
    count: number of valid keys, `[batch..., heads]`.
    anchor: a, the first valid key, `[batch..., heads, head_dim]`.
    key_sum: Σ k', `[batch..., heads, head_dim]`.
    value_sum: Σ v, `[batch..., heads, v_dim]`.
    key_outer_sum: Σ k' k'ᵀ, `[batch..., heads, head_dim, head_dim]`.
    key_value_sum: Σ k' vᵀ, `[batch..., heads, head_dim, v_dim]`.
    max_key_norm: max ||k'||, `[batch..., heads]`.
    key_cube_sum: Σ k'^{⊗3} `[batch..., heads, head_dim, head_dim, head_dim]`,
      or None when the estimator needs no third moment.
  """

  count: Array
  anchor: Array
  key_sum: Array
  value_sum: Array
  key_outer_sum: Array
  key_value_sum: Array
  max_key_norm: Array
  key_cube_sum: Array | None = None


def init_eala_state(
    batch_shape: Shape,
    heads: int,
    head_dim: int,
    v_dim: int,
    *,
    third_moment: bool = False,
) -> EalaState:
  """An empty state (no key seen yet), float32.

  Args:
    batch_shape: the `batch...` dims (an int for one batch axis).
    heads: number of heads.
    head_dim: query/key depth.
    v_dim: value depth.
    third_moment: also track Σk'^{⊗3} (needed by ``estimator="cumulant3"``).
  """
  batch_shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
  zeros = lambda *tail: jnp.zeros((*batch_shape, heads, *tail), jnp.float32)
  return EalaState(
      count=zeros(), anchor=zeros(head_dim), key_sum=zeros(head_dim),
      value_sum=zeros(v_dim), key_outer_sum=zeros(head_dim, head_dim),
      key_value_sum=zeros(head_dim, v_dim), max_key_norm=zeros(),
      key_cube_sum=zeros(head_dim, head_dim, head_dim) if third_moment else None,
  )


def init_state(*args, **kwargs) -> EalaState:
  """Deprecated name of :func:`init_eala_state` (it said not whose state)."""
  warnings.warn(
      "init_state is deprecated; use init_eala_state (same arguments).",
      DeprecationWarning, stacklevel=2,
  )
  return init_eala_state(*args, **kwargs)


def sums_from_state(
    state: EalaState, scaled_query: Array, *, precision: PrecisionLike = None
) -> prefix.PrefixSums:
  """Prefix sums seen by queries `[batch..., q_len, heads, head_dim]` from a state."""
  q = scaled_query
  expand = lambda x: jnp.expand_dims(x, -3 if x.ndim > state.count.ndim else -2)
  outer = jnp.einsum("...qhd,...hde->...qhe", q, state.key_outer_sum, precision=precision)
  cube = None
  if state.key_cube_sum is not None:
    pairs = jnp.einsum("...qhd,...qhe->...qhde", q, q)
    cube = jnp.einsum(
        "...qhde,...hdef,...qhf->...qh", pairs, state.key_cube_sum, q, precision=precision
    )
  return prefix.PrefixSums(
      count=jnp.broadcast_to(expand(state.count), q.shape[:-1]),
      score_sum=jnp.einsum("...qhd,...hd->...qh", q, state.key_sum, precision=precision),
      score_sq_sum=jnp.sum(outer * q, -1),
      score_cube_sum=cube,
      value_sum=jnp.broadcast_to(expand(state.value_sum), (*q.shape[:-1], state.value_sum.shape[-1])),
      score_value_sum=jnp.einsum(
          "...qhd,...hdv->...qhv", q, state.key_value_sum, precision=precision
      ),
      key_sum=jnp.broadcast_to(expand(state.key_sum), q.shape),
      max_key_norm=jnp.broadcast_to(expand(state.max_key_norm), q.shape[:-1]),
  )


def accumulate(
    state: EalaState, anchored_key: Array, value: Array, weights: Array,
    *, precision: PrecisionLike = None,
) -> EalaState:
  """Adds a block of keys to the state.

  Args:
    state: the state before the block (its anchor already final).
    anchored_key: k − a, zero on invalid keys, `[batch..., block, heads, head_dim]`.
    value: v, zero on invalid keys, `[batch..., block, heads, v_dim]`.
    weights: 1 for valid keys, 0 otherwise, `[batch..., block, heads]`.
  """
  k, v = anchored_key, value
  cube = state.key_cube_sum
  if cube is not None:
    cube = cube + jnp.einsum("...lhd,...lhe,...lhf->...hdef", k, k, k, precision=precision)
  return state._replace(
      count=state.count + jnp.sum(weights, -2),
      key_sum=state.key_sum + jnp.sum(k, -3),
      value_sum=state.value_sum + jnp.sum(v, -3),
      key_outer_sum=state.key_outer_sum
      + jnp.einsum("...lhd,...lhe->...hde", k, k, precision=precision),
      key_value_sum=state.key_value_sum
      + jnp.einsum("...lhd,...lhv->...hdv", k, v, precision=precision),
      max_key_norm=jnp.maximum(state.max_key_norm, jnp.max(theta_lib.key_norm(k), -2)),
      key_cube_sum=cube,
  )


def check_state(
    state: EalaState, estimator: estimators.EntropyEstimator, fn_name: str,
    key: Array | None = None, value: Array | None = None,
) -> None:
  """Checks that the state suits the estimator and (optionally) key `[batch..., length, heads, head_dim]`, value.

  Raises:
    ValueError: naming the state's shapes and the inputs' when they disagree.
  """
  if not isinstance(state, EalaState):
    raise ValueError(
        f"{fn_name}: the state must be an EalaState (from init_eala_state or a previous"
        f" call), got {type(state).__name__}."
    )
  if key is not None:
    batch_heads = (*key.shape[:-3], key.shape[-2])
    expected = {
        "count": batch_heads, "anchor": (*batch_heads, key.shape[-1]),
        "value_sum": (*batch_heads, value.shape[-1]),
    }
    if any(jnp.shape(getattr(state, name)) != shape for name, shape in expected.items()):
      raise ValueError(
          f"{fn_name}: key {key.shape[:-3] + key.shape[-2:]} and value"
          f" {value.shape[:-3] + value.shape[-2:]} do not match the state: its count is"
          f" {jnp.shape(state.count)} ([batch..., kv_heads]), anchor"
          f" {jnp.shape(state.anchor)} ([..., head_dim]) and value_sum"
          f" {jnp.shape(state.value_sum)} ([..., v_dim]); create it with"
          " init_eala_state(batch_shape, kv_heads, head_dim, v_dim)."
      )
  if estimator.needs_third_moment and state.key_cube_sum is None:
    raise ValueError(
        f"{fn_name}: estimator {estimator.name!r} needs the third-moment sum; create"
        " the state with init_eala_state(..., third_moment=True)."
    )


def eala_step(
    query: Array,
    key: Array,
    value: Array,
    *legacy: Array,
    key_mask: Array | None = None,
    estimator: str | estimators.EntropyEstimator = "cumulant2",
    nonneg: bool | str = False,
    scale: float | None = None,
    theta_scale: float = 1.0,
    fixed_theta: float | None = None,
    theta_solve: str = "second_order",
    initial_state: EalaState | None = None,
    output_final_state: bool = False,
    precision: PrecisionLike = None,
) -> AttentionResult:
  """One causal EALA step: add (key, value) to the state, then attend with query.

  Example (decoding)::

    state = init_eala_state(batch, kv_heads, head_dim, v_dim)
    for t in range(length):
      out, _, state = eala_step(q[:, t], k[:, t], v[:, t], initial_state=state,
                                output_final_state=True)

  Args:
    query: `[batch..., heads, head_dim]`.
    key: `[batch..., kv_heads, head_dim]`.
    value: `[batch..., kv_heads, v_dim]`.
    key_mask: optional boolean, broadcastable to `[batch..., kv_heads]`; False
      skips this key (padding) but still answers the query.
    estimator, nonneg, scale, theta_scale, fixed_theta, theta_solve, precision: as in
      :func:`~entropy_attention_jax.attention.eala_attention`.
    initial_state: from :func:`init_eala_state` or a previous step (default:
      empty).
    output_final_state: also return the state after this step.

  Returns:
    An :class:`~entropy_attention_jax.attention.AttentionResult`: output
    `[batch..., heads, v_dim]` in the promoted input dtype (zeros while no
    valid key has been seen), aux :class:`~.theta.EalaAux` of
    `[batch..., heads]` arrays, and with `output_final_state` the new state.

  Raises:
    TypeError: the old call order `eala_step(state, query, key, value)`.
  """
  fn_name = "eala_step"
  if legacy or isinstance(query, EalaState):  # the released eala_step(state, q, k, v)
    raise TypeError(
        f"{fn_name}: the state is no longer the first argument; call"
        " eala_step(query, key, value, initial_state=state, output_final_state=True),"
        " which returns (output, aux, final_state)."
    )
  for name, x in (("query", query), ("key", key), ("value", value)):
    if jnp.ndim(x) < 2:
      raise ValueError(
          f"{fn_name}: `{name}` must be [batch..., heads, depth] (one token), got"
          f" shape {jnp.shape(x)}."
      )
  query, key, value = query[..., None, :, :], key[..., None, :, :], value[..., None, :, :]
  _checks.check_query_key(query, key, fn_name, value, grouped=True)
  estimator = estimators.get_estimator(estimator)
  state = initial_state
  if state is None:
    state = init_eala_state(key.shape[:-3], key.shape[-2], key.shape[-1], value.shape[-1],
                            third_moment=estimator.needs_third_moment)
  check_state(state, estimator, fn_name, key, value)
  bound = theta_lib.resolve_nonneg(nonneg, True, fn_name)
  out_dtype = jnp.result_type(query, key, value)
  if key_mask is None:
    valid = jnp.ones(key.shape[:-1], bool)
  else:
    try:
      valid = jnp.broadcast_to(jnp.asarray(key_mask, bool), key.shape[:-3] + key.shape[-2:-1])
      valid = valid[..., None, :]
    except ValueError:
      raise ValueError(
          f"{fn_name}: key_mask of shape {jnp.shape(key_mask)} does not broadcast to"
          f" [batch..., kv_heads] = {key.shape[:-3] + key.shape[-2:-1]}."
      ) from None
  group = query.shape[-2] // key.shape[-2]
  step = functools.partial(
      _step, estimator=estimator, nonneg=bound,
      scale=_checks.resolve_scale(scale, query.shape[-1]), theta_scale=theta_scale,
      fixed_theta=fixed_theta, theta_solve=theta_solve, precision=precision,
  )
  if group == 1:
    state, output, aux = step(state, query, key, value, valid)
  else:
    state, output, aux = grouping.grouped_step(step, state, query, key, value, valid)
  aux = theta_lib.EalaAux(*(x[..., 0, :] for x in aux))
  return AttentionResult(
      output[..., 0, :, :].astype(out_dtype), aux, state if output_final_state else None
  )


def _step(state, query, key, value, valid, *, estimator, nonneg, scale, theta_scale,
          fixed_theta, theta_solve, precision):
  """A step on length-1 blocks `[batch..., 1, heads, depth]`; float32 output."""
  first = (state.count == 0) & valid[..., 0, :]
  key = jnp.where(valid[..., None], key, jnp.zeros((), key.dtype))
  value = jnp.where(valid[..., None], value, jnp.zeros((), value.dtype))
  state = state._replace(anchor=jnp.where(first[..., None], key[..., 0, :, :].astype(jnp.float32), state.anchor))
  weights = valid.astype(jnp.float32)
  anchored = (key.astype(jnp.float32) - state.anchor[..., None, :, :]) * weights[..., None]
  state = accumulate(state, anchored, value.astype(jnp.float32) * weights[..., None], weights,
                     precision=precision)
  scaled_query = query.astype(jnp.float32) * scale
  output, aux = prefix.attend_from_prefix_sums(
      sums_from_state(state, scaled_query, precision=precision), scaled_query,
      estimator=estimator, nonneg=nonneg, theta_scale=theta_scale, fixed_theta=fixed_theta,
      theta_solve=theta_solve,
  )
  return state, output, aux


def recurrent_eala(
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
    segment_ids: Array | None = None,
    initial_state: EalaState | None = None,
    output_final_state: bool = False,
    precision: PrecisionLike = None,
) -> AttentionResult:
  """Causal EALA by scanning :func:`eala_step` over the sequence.

  Args:
    query: `[batch..., length, heads, head_dim]`.
    key: `[batch..., length, heads, head_dim]`.
    value: `[batch..., length, heads, v_dim]`.
    key_mask: optional boolean `[batch..., heads, length]`.
    segment_ids: optional integer `[batch..., length]`: the state is reset
      where the id changes (packed sequences); the initial state continues the
      first segment.
    initial_state: state to continue from (default: empty).
    output_final_state: also return the state after the last step.
    estimator, nonneg, scale, theta_scale, fixed_theta, theta_solve, precision: as in
      :func:`~entropy_attention_jax.attention.eala_attention`.

  Returns:
    An :class:`~entropy_attention_jax.attention.AttentionResult`: output float32
    `[batch..., length, heads, v_dim]`, aux :class:`~.theta.EalaAux`, and with
    `output_final_state` the state after the last step.
  """
  estimator = estimators.get_estimator(estimator)
  bound = theta_lib.resolve_nonneg(nonneg, True, "recurrent_eala")
  batch, heads = key.shape[:-3], key.shape[-2]
  if initial_state is None:
    initial_state = init_eala_state(batch, heads, key.shape[-1], value.shape[-1],
                               third_moment=estimator.needs_third_moment)
  check_state(initial_state, estimator, "recurrent_eala", key, value)
  valid = jnp.ones(key.shape[:-1], bool) if key_mask is None else jnp.swapaxes(key_mask, -1, -2)
  if segment_ids is None:
    starts = jnp.zeros(key.shape[:-2], bool)
  else:
    segment_ids = jnp.broadcast_to(jnp.asarray(segment_ids), key.shape[:-2])
    starts = jnp.concatenate(
        [jnp.zeros_like(segment_ids[..., :1], bool), segment_ids[..., 1:] != segment_ids[..., :-1]],
        axis=-1,
    )
  empty = jax.tree.map(jnp.zeros_like, initial_state)
  # [batch..., length, *rest] -> [length, batch..., 1, *rest]: scan over steps of length 1.
  time_major = lambda x: jnp.expand_dims(jnp.moveaxis(x, len(batch), 0), len(batch) + 1)
  tau = _checks.resolve_scale(scale, query.shape[-1])

  def body(state, inputs):
    q, k, v, m, start = inputs
    if segment_ids is not None:
      reset = start[..., 0]
      state = jax.tree.map(
          lambda e, x: jnp.where(reset.reshape(reset.shape + (1,) * (x.ndim - reset.ndim)), e, x),
          empty, state,
      )
    state, output, aux = _step(state, q, k, v, m, estimator=estimator, nonneg=bound, scale=tau,
                               theta_scale=theta_scale, fixed_theta=fixed_theta,
                               theta_solve=theta_solve, precision=precision)
    return state, (output[..., 0, :, :], aux.theta[..., 0, :], aux.entropy_target[..., 0, :])

  final_state, (output, theta, target) = jax.lax.scan(
      body, initial_state, tuple(time_major(x) for x in (query, key, value, valid, starts))
  )
  batch_major = lambda x: jnp.moveaxis(x, 0, len(batch))
  return AttentionResult(
      batch_major(output), theta_lib.EalaAux(batch_major(theta), batch_major(target)),
      final_state if output_final_state else None,
  )
