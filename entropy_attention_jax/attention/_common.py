"""Plumbing shared by the attention functions: Flax's `attention_fn` keywords."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from entropy_attention_jax.typing import Array, Dtype


def resolve_dtype(dtype: Dtype | None, *arrays: Array) -> Any:
  """The output dtype: `dtype` if given, else the promoted input dtype (as Flax)."""
  return jnp.result_type(*arrays) if dtype is None else dtype


def reject_weight_dropout(
    dropout_rate: float, deterministic: bool, fn_name: str
) -> None:
  """Linear-time attention never forms the weights, so it cannot drop them out."""
  if dropout_rate > 0.0 and not deterministic:
    raise ValueError(
        f"{fn_name}: attention-weight dropout (dropout_rate={dropout_rate}) needs"
        " the [q_len, kv_len] weights, which linear-time attention never forms."
        " Pass dropout_rate=0 (or deterministic=True) and apply dropout to the"
        " attention output instead, as EntropyLinearAttention does."
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


def zero_rows_without_keys(output: Array, key_mask: Array | None) -> Array:
  """Zeros the output of heads whose key-padding mask keeps no key.

  Args:
    output: `[batch..., q_len, heads, v_dim]`.
    key_mask: `None` or boolean `[batch..., heads, kv_len]`.
  """
  if key_mask is None:
    return output
  has_keys = jnp.any(key_mask, axis=-1)[..., None, :, None]
  return jnp.where(has_keys, output, jnp.zeros((), output.dtype))


def check_causal_lengths(query: Array, key: Array, fn_name: str) -> None:
  """Causal attention pairs query `i` with key `i`: the lengths must agree."""
  if query.shape[-3] != key.shape[-3]:
    raise ValueError(
        f"{fn_name}: causal attention needs q_len == kv_len, got query"
        f" {query.shape} and key {key.shape}."
    )
