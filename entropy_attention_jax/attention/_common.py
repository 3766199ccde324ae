"""Plumbing shared by the attention functions: Flax's `attention_fn` keywords, masks,
grouped heads, dropout, chunking and the result every form returns."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import grouping, masks
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PRNGKey


class AttentionResult(NamedTuple):
  """What every form returns (fla's contract, with the per-query diagnostics).

  Attributes:
    output: `[batch..., q_len, heads, v_dim]` (`[batch..., heads, v_dim]` for
      one decoding step).
    aux: per-query diagnostics (:class:`~.eala.EalaAux` for EALA and Taylor),
      or None.
    final_state: the recurrent state after the last key when
      `output_final_state` was asked for (causal forms), else None.
  """

  output: Any
  aux: Any = None
  final_state: Any = None


def resolve_dtype(dtype: Dtype | None, *arrays: Array) -> Any:
  """The output dtype: `dtype` if given, else the promoted input dtype (as Flax)."""
  return jnp.result_type(*arrays) if dtype is None else dtype


DROPOUT_MODES = ("output", "keys")


def dropout_active(
    dropout_rate: float, deterministic: bool, dropout_rng: PRNGKey | None,
    dropout_mode: str, fn_name: str,
) -> bool:
  """Whether dropout applies; checks the rate, the mode and the key.

  Linear-time attention never forms the `[q_len, kv_len]` weights, so Flax's
  attention-weight dropout has no direct analogue. `dropout_mode` says what
  `dropout_rate > 0` drops instead: ``"output"`` (each attention output entry,
  rescaled by 1/keep, the default) or ``"keys"`` (whole keys, before the
  statistics; the implicit weights renormalise over the survivors).

  Raises:
    ValueError: a rate outside [0, 1), an unknown mode, or active dropout
      without a `dropout_rng`.
  """
  if dropout_mode not in DROPOUT_MODES:
    raise ValueError(
        f"{fn_name}: dropout_mode must be one of {DROPOUT_MODES}, got {dropout_mode!r}."
    )
  if not 0.0 <= dropout_rate < 1.0:
    raise ValueError(f"{fn_name}: dropout_rate must be in [0, 1), got {dropout_rate}.")
  if dropout_rate == 0.0 or deterministic:
    return False
  if dropout_rng is None:
    raise ValueError(
        f"{fn_name}: dropout_rate={dropout_rate} in training mode (deterministic=False)"
        " needs a dropout_rng."
    )
  return True


def _keep_mask(rng: PRNGKey, rate: float, shape, broadcast: bool, num_batch: int) -> Array:
  """Bernoulli(1 − rate) over `shape`, shared across the batch and head axes if `broadcast`."""
  if broadcast:
    shape = (1,) * num_batch + tuple(shape[num_batch:])
  return jax.random.bernoulli(rng, 1.0 - rate, shape)


def dropout_output(output: Array, rng: PRNGKey, rate: float, broadcast: bool) -> Array:
  """Inverted dropout on `[batch..., q_len, heads, v_dim]` (shared over batch and heads)."""
  num_batch = output.ndim - 3
  shape = list(output.shape)
  if broadcast:
    shape[-2] = 1
  keep = _keep_mask(rng, rate, tuple(shape), broadcast, num_batch)
  return jnp.where(keep, output / (1.0 - rate), jnp.zeros((), output.dtype))


def dropout_keys(key_mask: Array | None, key: Array, rng: PRNGKey, rate: float,
                 broadcast: bool) -> Array:
  """A key mask `[batch..., kv_heads, kv_len]` with each key dropped with probability `rate`."""
  num_batch = key.ndim - 3
  shape = (*key.shape[:-3], 1 if broadcast else key.shape[-2], key.shape[-3])
  keep = _keep_mask(rng, rate, shape, broadcast, num_batch)
  keep = jnp.broadcast_to(keep, (*key.shape[:-3], key.shape[-2], key.shape[-3]))
  return keep if key_mask is None else key_mask & keep


# The public arguments each linear-time kind hands to `linear_time_attention` unchanged.
FRONT_END_ARGUMENTS = (
    "bias", "mask", "causal", "is_causal", "key_padding_mask", "query_seq_lengths",
    "key_value_seq_lengths", "mask_structure", "segment_ids", "initial_state", "output_final_state", "dropout_mode",
    "dropout_rate", "dropout_rng", "broadcast_dropout", "deterministic", "dtype",
)


def front_end_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
  """The :data:`FRONT_END_ARGUMENTS` among a public function's `locals()`."""
  return {name: arguments[name] for name in FRONT_END_ARGUMENTS if name in arguments}


def linear_time_attention(
    core: Callable[..., AttentionResult],
    query: Array,
    key: Array,
    value: Array,
    *,
    fn_name: str,
    bias: ArrayLike | None,
    mask: ArrayLike | None,
    causal: bool,
    is_causal: bool = False,
    key_padding_mask: ArrayLike | None = None,
    query_seq_lengths: ArrayLike | None = None,
    key_value_seq_lengths: ArrayLike | None = None,
    mask_structure: str | None = None,
    segment_ids: ArrayLike | None = None,
    initial_state: Any = None,
    output_final_state: bool = False,
    stateful: bool = True,
    dropout_mode: str = "output",
    dropout_rate: float = 0.0,
    dropout_rng: PRNGKey | None = None,
    broadcast_dropout: bool = True,
    deterministic: bool = False,
    dtype: Dtype | None = None,
) -> AttentionResult:
  """The front end shared by the linear-time kinds (eala, taylor, linear, performer).

  Checks the inputs, turns the masks into key and query validity
  (:func:`~.masks.resolve_mask`), applies dropout, runs grouped-query heads
  through a group axis (:mod:`~.grouping`) and zeros padded query rows.

  Args:
    core: `core(query, key, value, *, key_mask, causal, segment_ids,
      initial_state) -> (output, aux, final_state)` on equal-headed (or
      group-axis) inputs, float32 output; `aux` is None or a NamedTuple of
      `[batch..., q_len, heads]` arrays, `final_state` None or a pytree of
      `[batch..., kv_heads, ...]` arrays.
    query, key, value: as the public function.
    stateful: whether `core` takes `initial_state` / returns a state.
    causal, is_causal: Flax's two spellings of causal attention.
    Others: the public function's arguments.

  Returns:
    An :class:`AttentionResult`: output `[batch..., q_len, heads, v_dim]` in
    the result dtype, aux per query head, final_state per key head (None
    unless `output_final_state`).

  Raises:
    ValueError: bad shapes or options (named in the message).
  """
  _checks.check_query_key(query, key, fn_name, value, grouped=True)
  _checks.reject_bias(bias, fn_name)
  out_dtype = resolve_dtype(dtype, query, key, value)
  resolved = masks.resolve_mask(
      mask, query, key, fn_name=fn_name, causal=causal or is_causal, key_padding_mask=key_padding_mask,
      query_seq_lengths=query_seq_lengths, key_value_seq_lengths=key_value_seq_lengths,
      mask_structure=mask_structure,
  )
  causal = resolved.causal
  if causal:
    _checks.check_causal_lengths(query, key, fn_name)
  wants_state = initial_state is not None or output_final_state
  if not causal and (wants_state or segment_ids is not None):
    raise ValueError(
        f"{fn_name}: initial_state, output_final_state and segment_ids are for"
        " causal attention; pass causal=True."
    )
  if segment_ids is not None:
    segment_ids = jnp.asarray(segment_ids)
    expected = (*key.shape[:-3], key.shape[-3])
    if segment_ids.shape != expected or not jnp.issubdtype(segment_ids.dtype, jnp.integer):
      raise ValueError(
          f"{fn_name}: segment_ids must be integers of shape [batch..., length] ="
          f" {expected}, got {segment_ids.dtype} {segment_ids.shape}."
      )
  key_mask = resolved.key_mask
  dropping = dropout_active(dropout_rate, deterministic, dropout_rng, dropout_mode, fn_name)
  if dropping and dropout_mode == "keys":
    key_mask = dropout_keys(key_mask, key, dropout_rng, dropout_rate, broadcast_dropout)

  group = grouping.group_size(query, key)
  num_batch = key.ndim - 3
  options = dict(key_mask=key_mask, causal=causal, segment_ids=segment_ids)
  if stateful:
    options["initial_state"] = initial_state
  if group == 1:
    output, aux, final_state = core(query, key, value, **options)
  else:
    grouped = {
        name: None if x is None or name == "causal" else grouping.add_group_axis(x, num_batch)
        for name, x in options.items()
    }
    grouped["causal"] = causal
    output, aux, final_state = core(
        grouping.split_queries(query, group), grouping.add_group_axis(key, num_batch),
        grouping.add_group_axis(value, num_batch), **grouped,
    )
    output = grouping.merge_queries(output, num_batch)
    aux = None if aux is None else jax.tree.map(
        lambda a: grouping.merge_queries(a, num_batch, 0), aux
    )
    final_state = None if final_state is None else grouping.drop_group_axis(final_state, num_batch)
  output = zero_rows_without_keys(output, key_mask, group)
  output = masks.zero_invalid_queries(output, resolved.query_mask)
  if dropping and dropout_mode == "output":
    output = dropout_output(output, dropout_rng, dropout_rate, broadcast_dropout)
  return AttentionResult(
      output.astype(out_dtype), aux, final_state if output_final_state else None
  )


def sow(module: Any, name: str, value: Array) -> None:
  """Sows a diagnostic into a Flax module (NNX or Linen) if one was passed."""
  if module is None:
    return
  # Imported lazily: pure-function users never load Flax through this layer.
  from flax import nnx  # pylint: disable=g-import-not-at-top

  if isinstance(module, nnx.Module):
    module.sow(nnx.Intermediate, name, value)
  else:
    module.sow("intermediates", name, value)


def zero_rows_without_keys(output: Array, key_mask: Array | None, group: int = 1) -> Array:
  """Zeros the output of heads whose key-padding mask keeps no key.

  Args:
    output: `[batch..., q_len, heads, v_dim]`.
    key_mask: `None` or boolean `[batch..., kv_heads, kv_len]`.
    group: query heads per key head.
  """
  if key_mask is None:
    return output
  has_keys = jnp.repeat(jnp.any(key_mask, axis=-1), group, axis=-1)[..., None, :, None]
  return jnp.where(has_keys, output, jnp.zeros((), output.dtype))


def chunking(num_batch: int, length: int, chunk_size: int, edge: bool = False):
  """`(chunked, unchunked, chunk_size)` for `[batch..., length, *rest]` arrays.

  `chunked` pads the length to whole chunks (zeros, or with `edge` the last
  row) and moves the chunk axis first, `[chunks, batch..., chunk, *rest]`;
  `unchunked` inverts it and drops the padding. The batch dims are read from
  each array, so queries may broadcast against keys (a query-group axis).
  """
  chunk_size = min(chunk_size, length)
  num_chunks = -(-length // chunk_size)
  pad = num_chunks * chunk_size - length

  def chunked(x, edge=edge):
    widths = [(0, 0)] * num_batch + [(0, pad)] + [(0, 0)] * (x.ndim - num_batch - 1)
    x = jnp.pad(x, widths, mode="edge" if edge else "constant")
    x = x.reshape(*x.shape[:num_batch], num_chunks, chunk_size, *x.shape[num_batch + 1:])
    return jnp.moveaxis(x, num_batch, 0)

  def unchunked(x):
    x = jnp.moveaxis(x, 0, num_batch)
    x = x.reshape(*x.shape[:num_batch], num_chunks * chunk_size, *x.shape[num_batch + 2:])
    return x[(slice(None),) * num_batch + (slice(0, length),)]

  return chunked, unchunked, chunk_size


def chunked_scan(
    body: Callable[..., tuple[Any, Any]],
    init: Any,
    inputs: tuple[Array, ...],
    *,
    num_batch: int,
    chunk_size: int,
    edge: tuple[bool, ...] = (),
) -> tuple[Any, Any]:
  """The chunked-parallel causal scan shared by the causal linear-time forms.

  Cuts each `[batch..., length, *rest]` input into chunks (:func:`chunking`),
  scans `body(carry, chunk_inputs, causal) -> (carry, chunk_outputs)` over
  them, where `causal` is the `[chunk, chunk]` lower-triangular block mask,
  and puts the outputs back into `[batch..., length, *rest]`.

  Args:
    body: the per-chunk step.
    init: the carry before the first chunk.
    inputs: arrays of one length (their first `num_batch` dims are batch dims).
    num_batch: number of batch dims.
    chunk_size: chunk length (clipped to the length).
    edge: per input, pad the last chunk with the last row instead of zeros.

  Returns:
    `(final_carry, outputs)`, outputs a pytree of `[batch..., length, ...]`.
  """
  length = inputs[0].shape[num_batch]
  chunked, unchunked, chunk_size = chunking(num_batch, length, chunk_size)
  causal = jnp.tril(jnp.ones((chunk_size, chunk_size), bool))
  edge = tuple(edge) + (False,) * (len(inputs) - len(edge))
  final, outputs = jax.lax.scan(
      lambda carry, xs: body(carry, xs, causal), init,
      tuple(chunked(x, edge=e) for x, e in zip(inputs, edge)),
  )
  return final, jax.tree.map(unchunked, outputs)
