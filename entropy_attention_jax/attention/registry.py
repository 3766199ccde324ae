"""Attention kinds by name, and their explicit weights for small inputs.

Models choose attention with a string (``"eala"``, ``"softmax"``, ...); this
module maps the name to the pure function and, for diagnostics, to the
`[q_len, kv_len]` weights that function applies implicitly.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import masks
from entropy_attention_jax.attention.eala import eala_attention, naive_eala
from entropy_attention_jax.attention.linear import (
    elu_feature_map,
    kernel_weights,
    linear_attention,
)
from entropy_attention_jax.attention.performer import performer_attention, performer_weights
from entropy_attention_jax.attention.softmax import softmax_attention, softmax_weights
from entropy_attention_jax.attention.taylor import taylor_attention
from entropy_attention_jax.typing import Array, ArrayLike

AttentionFn = Callable[..., Array]

ATTENTION_FUNCTIONS: Mapping[str, AttentionFn] = {
    "eala": eala_attention,
    "softmax": softmax_attention,
    "linear": linear_attention,
    "performer": performer_attention,
    "taylor": taylor_attention,
}


def _check_kind(kind: str) -> None:
  if kind not in ATTENTION_FUNCTIONS:
    raise ValueError(
        f"unknown attention kind {kind!r}; expected one of {sorted(ATTENTION_FUNCTIONS)}."
    )


def get_attention_fn(kind: str, **options: Any) -> AttentionFn:
  """The attention function of `kind` with `options` bound (Flax `attention_fn`).

  Example::

    attention_fn = get_attention_fn("eala", estimator="gaussian_ensemble")
    nnx.MultiHeadAttention(4, 32, attention_fn=attention_fn, rngs=nnx.Rngs(0))

  Raises:
    ValueError: an unknown kind.
  """
  _check_kind(kind)
  fn = ATTENTION_FUNCTIONS[kind]
  return functools.partial(fn, **options) if options else fn


# Keyword arguments of the attention functions that shape their weights; the
# rest (dtype, dropout, module, ...) do not apply to explicit weights.
_WEIGHT_OPTIONS = {
    "eala": {"estimator", "nonneg", "theta_scale", "theta_solve"},
    "taylor": set(),
    "softmax": {"bias", "causal"},
    "linear": {"feature_map"},
    "performer": {"features", "feature_key", "num_features"},
}


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
  _check_kind(kind)
  unknown = set(options) - _WEIGHT_OPTIONS[kind]
  if unknown:
    raise ValueError(
        f"attention_weights: option(s) {sorted(unknown)} do not apply to kind"
        f" {kind!r}; allowed: {sorted(_WEIGHT_OPTIONS[kind])}."
    )
  _checks.check_query_key(query, key, "attention_weights")
  if kind == "softmax":
    return softmax_weights(query, key, mask=mask, scale=scale, **options)
  resolved = masks.resolve_mask(mask, query, key, fn_name="attention_weights")
  key_mask = resolved.key_mask
  if kind in ("eala", "taylor"):
    fixed = 1.0 if kind == "taylor" else None
    _, weights, _ = naive_eala(
        query, key, key_mask=key_mask, causal=resolved.causal, scale=scale, fixed_theta=fixed,
        **options,
    )
  elif resolved.causal:
    raise ValueError(
        f"attention_weights: causal weights of kind {kind!r} are not implemented;"
        " pass a padding mask without the causal part."
    )
  elif kind == "linear":
    feature_map = options.get("feature_map", elu_feature_map)
    multiplier = 1.0 if scale is None else scale
    weights = kernel_weights(
        feature_map(query.astype(jnp.float32) * multiplier),
        feature_map(key.astype(jnp.float32)),
        key_mask,
    )
  else:
    weights = performer_weights(query, key, key_mask=key_mask, scale=scale, **options)
  if resolved.query_mask is not None:  # padded queries: zero rows
    weights = jnp.where(jnp.swapaxes(resolved.query_mask, -1, -2)[..., None], weights, 0.0)
  return weights
