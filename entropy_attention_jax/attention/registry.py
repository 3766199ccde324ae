"""Attention kinds by name, and their explicit weights for small inputs.

Models choose attention with a string (``"eala"``, ``"softmax"``, ...); the
records in :mod:`~entropy_attention_jax.attention.kinds` map the name to the
pure function and, for diagnostics, to the `[q_len, kv_len]` weights that
function applies implicitly. This module only reads them.
"""

from __future__ import annotations

import functools
import types
from typing import Any, Callable, Mapping

from entropy_attention_jax import _checks
from entropy_attention_jax.attention.kinds import KINDS, get_kind
from entropy_attention_jax.typing import Array, ArrayLike

AttentionFn = Callable[..., Array]

ATTENTION_FUNCTIONS: Mapping[str, AttentionFn] = types.MappingProxyType(
    {name: kind.fn for name, kind in KINDS.items()}
)


def get_attention_fn(kind: str, **options: Any) -> AttentionFn:
  """The attention function of `kind` with `options` bound (Flax `attention_fn`).

  Example::

    attention_fn = get_attention_fn("eala", estimator="gaussian_ensemble")
    nnx.MultiHeadAttention(4, 32, attention_fn=attention_fn, rngs=nnx.Rngs(0))

  Raises:
    ValueError: an unknown kind.
  """
  fn = get_kind(kind).fn
  return functools.partial(fn, **options) if options else fn


def attention_weights(
    query: Array,
    key: Array,
    *,
    kind: str = "softmax",
    mask: ArrayLike | None = None,
    scale: float | None = None,
    **options: Any,
) -> Array:
  """Materialises the attention weights of any kind (diagnostics, small L).

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    kind: a name in :data:`ATTENTION_FUNCTIONS`.
    mask: as the kind's attention function takes it.
    scale: score scale (for ``"linear"``, the query multiplier).
    **options: the kind's weight-shaping options (e.g. `estimator`, `nonneg`
      for ``"eala"``; `features` or `feature_key` for ``"performer"``).

  Returns:
    float32 `[batch..., heads, q_len, kv_len]`; each row is the weights one
    query applies to the values (zero on masked keys).

  Raises:
    ValueError: unknown kind or option, mismatched shapes.
  """
  record = get_kind(kind, "attention_weights")
  unknown = set(options) - record.weight_options
  if unknown:
    raise ValueError(
        f"attention_weights: option(s) {sorted(unknown)} do not apply to kind"
        f" {kind!r}; allowed: {sorted(record.weight_options)}."
    )
  _checks.check_query_key(query, key, "attention_weights")
  return record.weights(query, key, mask=mask, scale=scale, **options)
