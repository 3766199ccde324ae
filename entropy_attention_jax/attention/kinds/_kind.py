"""What an attention kind is: one frozen record, read by the registry, the layer,
the model and the CLI."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax.numpy as jnp

from entropy_attention_jax.attention import masks
from entropy_attention_jax.typing import Array, ArrayLike, Shape

# Keywords of every kind's Flax-signature function that a caller such as the
# layer sets per call (or that carry state); they are no kind options.
CALL_ARGUMENTS = frozenset({
    "bias", "mask", "causal", "is_causal", "broadcast_dropout", "dropout_rng",
    "dropout_rate", "deterministic", "dtype", "precision", "module",
    "initial_state", "output_final_state",
})
# Options of every kind that reads masks the way `jax.nn.dot_product_attention` does.
MASK_OPTIONS: Mapping[str, Any] = {
    "key_padding_mask": None, "query_seq_lengths": None, "key_value_seq_lengths": None,
}
# Options of every linear-time kind (its shared front end).
LINEAR_TIME_OPTIONS: Mapping[str, Any] = {
    **MASK_OPTIONS, "mask_structure": None, "segment_ids": None, "chunk_size": 64,
    "dropout_mode": "output",
}


@dataclasses.dataclass(frozen=True)
class FixedParameter:
  """A parameter a kind needs that is drawn once and never trained (Performer's ω).

  Attributes:
    attribute: where the layer keeps it (part of the checkpoint path).
    argument: the keyword of the kind's function it is passed as.
    options: the kind options it is drawn from (the layer consumes them).
    make: `make(rng, head_dim, **options) -> Array`.
    replaces: keywords of the function it makes unnecessary (e.g. a PRNG key
      to draw it per call), set by the layer rather than by options.
  """

  attribute: str
  argument: str
  options: tuple[str, ...]
  make: Callable[..., Array]
  replaces: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class AttentionKind:
  """One attention kind: everything the layers above need to know about it.

  Attributes:
    name: the name models and configs choose it by.
    fn: the pure function, with Flax's `attention_fn` signature; returns the
      output `[batch..., q_len, heads, v_dim]`.
    weights: `weights(query, key, *, mask, scale, **weight options)`, its
      explicit weights `[batch..., heads, q_len, kv_len]` (diagnostics, small L).
    options: the keyword options a user may bind (in a layer's
      `attention_options` or a config), with their defaults.
    weight_options: the options (and extra keywords) that shape `weights`.
    summary: one line, for help texts.
    causal: whether `fn` has a causal form (`causal=True`).
    causal_weights: whether `weights` takes `causal=True` itself (others see
      causality only through a causal mask, or refuse it).
    init_state: `init_state(batch_shape, kv_heads, head_dim, v_dim, options)`,
      the empty recurrent state of the causal form (decoding), or None when
      the kind carries no state.
    sows: what `fn` sows into a `module` that the layer collects as
      diagnostics by passing itself.
    fixed: a fixed parameter the layer draws once, or None.
    scale_is_temperature: whether option `scale` is the softmax temperature
      (so the exact-entropy diagnostic uses it); False for a query multiplier.
  """

  name: str
  fn: Callable[..., Any]
  weights: Callable[..., Array]
  options: Mapping[str, Any]
  weight_options: frozenset[str]
  summary: str
  causal: bool = True
  causal_weights: bool = False
  init_state: Callable[[Shape, int, int, int, Mapping[str, Any]], Any] | None = None
  sows: tuple[str, ...] = ()
  fixed: FixedParameter | None = None
  scale_is_temperature: bool = True


def key_mask_weights(
    name: str, core: Callable[..., Array], *, causal_mask: bool = False
) -> Callable[..., Array]:
  """The `weights` of a linear-time kind from `core(query, key, *, key_mask, causal, scale, **options)`.

  The mask is resolved as the kind's function resolves it (key and query
  validity, optionally a causal part); padded queries get zero rows.

  Args:
    name: the kind, for error messages.
    core: weights from a key mask, `[batch..., heads, q_len, kv_len]`.
    causal_mask: whether `core` handles a causal mask (else it raises).
  """

  def weights(query: Array, key: Array, *, mask: ArrayLike | None = None,
              scale: float | None = None, **options: Any) -> Array:
    resolved = masks.resolve_mask(mask, query, key, fn_name="attention_weights")
    if resolved.causal and not causal_mask:
      raise ValueError(
          f"attention_weights: causal weights of kind {name!r} are not implemented;"
          " pass a padding mask without the causal part."
      )
    result = core(query, key, key_mask=resolved.key_mask, causal=resolved.causal, scale=scale,
                  **options)
    if resolved.query_mask is not None:  # padded queries: zero rows
      result = jnp.where(jnp.swapaxes(resolved.query_mask, -1, -2)[..., None], result, 0.0)
    return result

  return weights
