r"""Which masks linear-time attention can honour, and how it honours them.

Linear-time attention never forms the `[q_len, kv_len]` weights, so it can
only apply masks that factorise:

.. math:: M_{ij} = \mathrm{query\_valid}_i \wedge \mathrm{key\_valid}_j
          \;[\wedge\; j \le i],

the outer product of a query-validity and a key-validity vector (Flax's
``make_attention_mask(q_pad, k_pad)``, a key-padding mask broadcast over the
queries), optionally times a causal (lower-triangular) mask. Key validity
becomes weighted key statistics, causality the prefix form, and query validity
zeroes the rows of padded queries.

:func:`resolve_mask` turns the Flax-style `mask` argument and the explicit
keywords of `jax.nn.dot_product_attention` (`query_seq_lengths`,
`key_value_seq_lengths`) plus `key_padding_mask` into that form. A concrete
mask is checked exactly; a traced one (under `jit`) cannot be inspected, so it
must either vary only along the keys or come with ``mask_structure=``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from entropy_attention_jax import _checks
from entropy_attention_jax.typing import Array, ArrayLike

MASK_STRUCTURES = ("padding", "causal_padding")


class LinearMask(NamedTuple):
  """A mask in the form linear-time attention applies.

  Attributes:
    key_mask: None or boolean `[batch..., kv_heads, kv_len]`; True keeps a key.
    query_mask: None or boolean `[batch..., q_len, 1 or heads]`; False rows
      are zero in the output.
    causal: whether query `i` sees only keys `j ≤ i`.
  """

  key_mask: Array | None
  query_mask: Array | None
  causal: bool


def _concrete(x: Array) -> np.ndarray | None:
  """`x` as a NumPy array, or None when it is traced (inside jit, grad, ...)."""
  try:
    return np.asarray(x)
  except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
    return None


def _unlinearisable(fn_name: str, shape, detail: str) -> ValueError:
  return ValueError(
      f"{fn_name}: the mask of shape {shape} varies along the query axis and"
      f" {detail}, so it cannot be linearised. Linear-time attention takes masks"
      " that are query validity x key validity (e.g. nnx.make_attention_mask(q_pad,"
      " k_pad)), optionally times a causal mask: pass key_padding_mask= ([batch...,"
      " kv_len]), query_seq_lengths= / key_value_seq_lengths=, causal=True, or"
      " mask_structure='padding' / 'causal_padding' for a traced mask of that"
      " form; use softmax_attention for general masks."
  )


def _group_heads(mask: Array, heads: int, kv_heads: int, fn_name: str) -> Array:
  """Reduces a mask's query-head axis `[..., heads, r, c]` to the key heads.

  Each key head's statistics are shared by its query group, so the mask must be
  the same for every query head of a group.
  """
  group = heads // kv_heads
  grouped = mask.reshape(*mask.shape[:-3], kv_heads, group, *mask.shape[-2:])
  values = _concrete(grouped)
  if values is None or not np.all(values == values[..., :1, :, :]):
    raise ValueError(
        f"{fn_name}: with {heads} query heads sharing {kv_heads} key/value heads,"
        f" a mask of shape {mask.shape} must be the same for all query heads of a"
        " group (it is traced, or it differs); give it a singleton head axis."
    )
  return grouped[..., 0, :, :]


def _check_lengths(lengths: ArrayLike, batch, name: str, fn_name: str) -> Array:
  lengths = jnp.asarray(lengths)
  if lengths.shape != tuple(batch) or not jnp.issubdtype(lengths.dtype, jnp.integer):
    raise ValueError(
        f"{fn_name}: `{name}` must be an integer array of shape [batch...] ="
        f" {tuple(batch)}, got {lengths.dtype} {lengths.shape}."
    )
  return lengths


def resolve_mask(
    mask: ArrayLike | None,
    query: Array,
    key: Array,
    *,
    fn_name: str,
    causal: bool = False,
    key_padding_mask: ArrayLike | None = None,
    query_seq_lengths: ArrayLike | None = None,
    key_value_seq_lengths: ArrayLike | None = None,
    mask_structure: str | None = None,
) -> LinearMask:
  """Turns the mask arguments of a linear-time attention function into a :class:`LinearMask`.

  Args:
    mask: None or boolean, broadcastable to `[batch..., heads, q_len, kv_len]`
      (True keeps a pair). It must be query validity x key validity, optionally
      times a causal mask; a concrete mask is checked, a traced one must have a
      singleton (or length-1) query axis unless `mask_structure` vouches for it.
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, kv_heads, head_dim]`.
    fn_name: the public function, for error messages.
    causal: the caller's causal flag (combined with what the mask implies).
    key_padding_mask: None or boolean broadcastable to `[batch..., kv_len]`.
    query_seq_lengths: None or int `[batch...]`: queries `>=` it are padding.
    key_value_seq_lengths: None or int `[batch...]`: keys `>=` it are padding.
    mask_structure: None (check a concrete mask), ``"padding"`` (trust that
      `mask` is query validity x key validity) or ``"causal_padding"`` (that
      times a lower-triangular mask).

  Returns:
    The :class:`LinearMask`.

  Raises:
    ValueError: a mask that cannot be linearised (the message says what would
      work), or arguments of the wrong shape.
  """
  batch = query.shape[:-3]
  q_len, heads = query.shape[-3], query.shape[-2]
  kv_len, kv_heads = key.shape[-3], key.shape[-2]
  if mask_structure is not None and mask_structure not in MASK_STRUCTURES:
    raise ValueError(
        f"{fn_name}: mask_structure must be None or one of {MASK_STRUCTURES},"
        f" got {mask_structure!r}."
    )
  key_valid = None  # [batch..., kv_heads, kv_len]
  query_valid = None  # [batch..., q_len, 1 or heads]

  def and_keys(valid):
    nonlocal key_valid
    valid = jnp.broadcast_to(valid, (*batch, kv_heads, kv_len))
    key_valid = valid if key_valid is None else key_valid & valid

  def and_queries(valid):
    nonlocal query_valid
    query_valid = valid if query_valid is None else query_valid & valid

  if key_padding_mask is not None:
    padding = jnp.asarray(key_padding_mask, bool)
    try:
      padding = jnp.broadcast_to(padding, (*batch, kv_len))
    except ValueError:
      raise ValueError(
          f"{fn_name}: key_padding_mask of shape {padding.shape} does not broadcast"
          f" to [batch..., kv_len] = {(*batch, kv_len)}."
      ) from None
    and_keys(padding[..., None, :])
  if key_value_seq_lengths is not None:
    lengths = _check_lengths(key_value_seq_lengths, batch, "key_value_seq_lengths", fn_name)
    and_keys((jnp.arange(kv_len) < lengths[..., None])[..., None, :])
  if query_seq_lengths is not None:
    lengths = _check_lengths(query_seq_lengths, batch, "query_seq_lengths", fn_name)
    and_queries((jnp.arange(q_len) < lengths[..., None])[..., None])

  if mask is not None:
    mask = jnp.asarray(mask)
    if mask.ndim >= 3 and mask.shape[-3] == heads != kv_heads:
      mask = _group_heads(mask, heads, kv_heads, fn_name)
    if mask.ndim < 2 or mask.shape[-2] == 1 or q_len == 1:
      and_keys(_checks.key_padding_mask(mask, query, key, fn_name))
    else:
      structure = mask_structure
      values = _concrete(mask)
      if values is not None:
        values = np.broadcast_to(
            values.astype(bool), np.broadcast_shapes(values.shape, (q_len, kv_len))
        )
        keys_of = values.any(-2, keepdims=True)
        queries_of = values.any(-1, keepdims=True)
        product = keys_of & queries_of
        tril = np.tril(np.ones((q_len, kv_len), bool))
        if np.array_equal(values, product):
          structure = "padding"
        elif q_len == kv_len and np.array_equal(
            values, product & tril
        ):
          structure = "causal_padding"
        else:
          raise _unlinearisable(
              fn_name, mask.shape, "is neither query validity x key validity nor that"
              " times a lower-triangular (causal) mask",
          )
      elif structure is None:
        raise _unlinearisable(
            fn_name, mask.shape, "is traced (inside jit), so its structure cannot be"
            " checked",
        )
      if structure == "causal_padding" and q_len != kv_len:
        raise ValueError(
            f"{fn_name}: mask_structure='causal_padding' needs q_len == kv_len, got"
            f" {q_len} and {kv_len}."
        )
      target = (*batch, mask.shape[-3] if mask.ndim >= 3 else 1, q_len, kv_len)
      try:
        mask = jnp.broadcast_to(mask.astype(bool), jnp.broadcast_shapes(mask.shape, target))
      except ValueError:
        raise ValueError(
            f"{fn_name}: mask of shape {mask.shape} does not broadcast to"
            f" [batch..., heads, q_len, kv_len] = {(*batch, kv_heads, q_len, kv_len)}."
        ) from None
      and_keys(jnp.any(mask, -2))
      and_queries(jnp.swapaxes(jnp.any(mask, -1), -1, -2))
      causal = causal or structure == "causal_padding"
  if query_valid is not None:
    query_valid = jnp.broadcast_to(
        query_valid, (*batch, q_len, query_valid.shape[-1])
    )
  return LinearMask(key_valid, query_valid, causal)


def zero_invalid_queries(output: Array, query_mask: Array | None) -> Array:
  """Zeros the rows of padded queries.

  Args:
    output: `[batch..., q_len, heads, v_dim]`.
    query_mask: None or boolean `[batch..., q_len, 1 or heads]`.
  """
  if query_mask is None:
    return output
  return jnp.where(query_mask[..., None], output, jnp.zeros((), output.dtype))
