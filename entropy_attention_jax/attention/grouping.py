"""Grouped-query (GQA) and multi-query (MQA) attention for the linear-time kinds.

Keys and values may have fewer heads than the queries, `kv_heads` dividing
`heads`; query head `h` uses key head `h // (heads // kv_heads)` (the grouping
of `jax.nn.dot_product_attention`). The query heads of a group are moved to a
group axis just after the batch dims and the keys get a singleton one:

  query `[batch..., q_len, heads, d]` -> `[batch..., group, q_len, kv_heads, d]`,
  key   `[batch..., kv_len, kv_heads, d]` -> `[batch..., 1, kv_len, kv_heads, d]`.

Every key statistic is then computed once per key head (it has the singleton
axis) and broadcast against the whole query group by the per-query einsums.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from entropy_attention_jax.typing import Array


def group_size(query: Array, key: Array) -> int:
  """Query heads per key head."""
  return query.shape[-2] // key.shape[-2]


def split_queries(query: Array, group: int) -> Array:
  """`[batch..., q_len, heads, d]` -> `[batch..., group, q_len, kv_heads, d]`."""
  batch = query.ndim - 3
  grouped = query.reshape(*query.shape[:-2], query.shape[-2] // group, group, query.shape[-1])
  return jnp.moveaxis(grouped, -2, batch)


def add_group_axis(x: Any, num_batch: int) -> Any:
  """Inserts the singleton group axis after `num_batch` batch dims (any pytree)."""
  return jax.tree.map(lambda a: jnp.expand_dims(a, num_batch), x)


def drop_group_axis(x: Any, num_batch: int) -> Any:
  """Inverse of :func:`add_group_axis`."""
  return jax.tree.map(lambda a: jnp.squeeze(a, num_batch), x)


def merge_queries(x: Array, num_batch: int, trailing: int = 1) -> Array:
  """`[batch..., group, q_len, kv_heads, *rest]` -> `[batch..., q_len, heads, *rest]`.

  Args:
    x: a per-query result with the group axis at `num_batch`.
    num_batch: number of batch dims.
    trailing: `len(rest)` (1 for outputs `[..., v_dim]`, 0 for θ).
  """
  x = jnp.moveaxis(x, num_batch, x.ndim - 1 - trailing)  # [batch..., q_len, kv_heads, group, *rest]
  shape = x.shape
  cut = x.ndim - trailing - 2
  return x.reshape(*shape[:cut], shape[cut] * shape[cut + 1], *shape[cut + 2:])


def grouped_step(step, state, query, key, value, valid):
  """Runs a one-token step `step(state, q, k, v, valid)` for grouped heads.

  Args:
    step: returns `(state, output, aux)` for length-1 blocks.
    state: per key head, `[batch..., kv_heads, ...]` fields.
    query: `[batch..., 1, heads, d]`; key, value: `[batch..., 1, kv_heads, *]`;
    valid: `[batch..., 1, kv_heads]`.

  Returns:
    `(state, output, aux)` with the output `[batch..., 1, heads, v_dim]`.
  """
  num_batch = key.ndim - 3
  group = group_size(query, key)
  state, output, aux = step(
      add_group_axis(state, num_batch), split_queries(query, group),
      *add_group_axis((key, value, valid), num_batch),
  )
  aux = jax.tree.map(lambda a: merge_queries(a, num_batch, 0), aux)
  return drop_group_axis(state, num_batch), merge_queries(output, num_batch), aux
