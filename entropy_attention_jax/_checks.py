"""Input validation shared by the pure entropy and attention functions.

Every public function checks its inputs here, at trace time, so that a bad call
fails with a message naming the argument and the shapes seen instead of an
opaque broadcasting error deep inside an einsum.
"""

from __future__ import annotations

import jax.numpy as jnp

from entropy_attention_jax.typing import Array


def check_floating(name: str, x: Array, fn_name: str) -> None:
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f"{fn_name}: `{name}` must have a floating dtype (float32, bfloat16,"
        f" ...), got {x.dtype}."
    )


def check_query_key(
    query: Array, key: Array, fn_name: str, value: Array | None = None,
    *, grouped: bool = False,
) -> None:
  """Checks `[batch..., length, heads, depth]` layouts agree.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, kv_heads, head_dim]`.
    fn_name: the public function's name, for error messages.
    value: optional `[batch..., kv_len, kv_heads, v_dim]`.
    grouped: allow grouped-query attention: `kv_heads` divides `heads` (else
      they must be equal).

  Raises:
    ValueError: wrong ranks or mismatched batch, head or depth sizes.
    TypeError: non-floating dtypes.
  """
  arrays = {"query": query, "key": key}
  if value is not None:
    arrays["value"] = value
  for name, x in arrays.items():
    if x.ndim < 3:
      raise ValueError(
          f"{fn_name}: `{name}` must have rank >= 3"
          f" ([batch..., length, heads, depth]), got shape {x.shape}."
      )
    check_floating(name, x, fn_name)
  if query.ndim != key.ndim or (value is not None and value.ndim != key.ndim):
    shapes = ", ".join(f"{n}={x.shape}" for n, x in arrays.items())
    raise ValueError(f"{fn_name}: query, key and value must have the same rank; got {shapes}.")
  if query.shape[:-3] != key.shape[:-3]:
    raise ValueError(
        f"{fn_name}: batch dims of query {query.shape} and key {key.shape} differ."
    )
  if grouped and key.shape[-2] and query.shape[-2] % key.shape[-2] == 0:
    pass  # grouped-query (GQA) or multi-query (MQA) attention
  elif grouped:
    raise ValueError(
        f"{fn_name}: the key/value heads must divide the query heads (grouped-query"
        f" attention): query {query.shape} has {query.shape[-2]}, key {key.shape}"
        f" has {key.shape[-2]}."
    )
  elif query.shape[-2] != key.shape[-2]:
    raise ValueError(
        f"{fn_name}: number of heads differs: query {query.shape} has"
        f" {query.shape[-2]}, key {key.shape} has {key.shape[-2]}."
    )
  if query.shape[-1] != key.shape[-1]:
    raise ValueError(
        f"{fn_name}: head_dim differs: query {query.shape} has {query.shape[-1]},"
        f" key {key.shape} has {key.shape[-1]}."
    )
  if value is not None and value.shape[:-1] != key.shape[:-1]:
    raise ValueError(
        f"{fn_name}: value {value.shape} must match key {key.shape} in all but"
        " the last (v_dim) axis."
    )


def key_padding_mask(
    mask: Array | None, query: Array, key: Array, fn_name: str
) -> Array | None:
  """Reduces an attention mask to a per-key validity mask.

  Linear-time attention can honour masks that depend only on the key (padding
  masks), not general `[q_len, kv_len]` patterns.

  Args:
    mask: `None` or a boolean array broadcastable to
      `[batch..., heads, 1, kv_len]` (Flax's `[batch..., heads, q_len, kv_len]`
      layout with a singleton query axis); True keeps a key. When `q_len == 1`
      any `[..., 1, kv_len]` mask qualifies.
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    fn_name: the public function's name, for error messages.

  Returns:
    `None` or a boolean `[batch..., heads, kv_len]` array.

  Raises:
    ValueError: the mask varies along the query axis, or does not broadcast.
  """
  if mask is None:
    return None
  mask = jnp.asarray(mask)
  batch = key.shape[:-3]
  heads, kv_len, q_len = key.shape[-2], key.shape[-3], query.shape[-3]
  if mask.ndim >= 2 and mask.shape[-2] != 1 and q_len != 1:
    raise ValueError(
        f"{fn_name}: got a mask of shape {mask.shape} that varies along the"
        f" query axis (size {mask.shape[-2]}); linear-time attention supports"
        " only key-padding masks broadcastable to"
        f" [batch..., heads, 1, kv_len] = {(*batch, heads, 1, kv_len)}."
        " General [q_len, kv_len] masks cannot be linearised; use"
        " softmax_attention for them."
    )
  target = (*batch, heads, 1, kv_len)
  try:
    mask = jnp.broadcast_to(mask, jnp.broadcast_shapes(mask.shape, target))
  except ValueError:
    raise ValueError(
        f"{fn_name}: mask of shape {mask.shape} does not broadcast to"
        f" [batch..., heads, 1, kv_len] = {target}."
    ) from None
  if mask.shape[:-2] != target[:-2] or mask.shape[-1] != kv_len:
    raise ValueError(
        f"{fn_name}: mask of shape {mask.shape} does not broadcast to"
        f" [batch..., heads, 1, kv_len] = {target}."
    )
  return mask[..., 0, :].astype(bool)


def reject_bias(bias: Array | None, fn_name: str) -> None:
  if bias is not None:
    raise ValueError(
        f"{fn_name}: an additive attention bias of shape {jnp.shape(bias)} was"
        " given, but biases on the [q_len, kv_len] scores cannot be linearised."
        " Use softmax_attention, or fold a per-key bias into a key-padding mask."
    )


def check_causal_lengths(query: Array, key: Array, fn_name: str) -> None:
  """Causal attention pairs query `i` with key `i`: the lengths must agree."""
  if query.shape[-3] != key.shape[-3]:
    raise ValueError(
        f"{fn_name}: causal attention needs q_len == kv_len, got query"
        f" {query.shape} and key {key.shape}."
    )


def resolve_scale(scale: float | None, head_dim: int) -> float:
  """The score scale τ; defaults to 1/√head_dim like dot-product attention."""
  return head_dim**-0.5 if scale is None else scale
