"""`EntropyLinearAttention`: multi-head attention whose kind is a constructor argument.

The layer owns the projections, heads, output dropout and diagnostics; the
attention itself is one of the pure functions in
:data:`entropy_attention_jax.attention.ATTENTION_KINDS`, so swapping
``attention="eala"`` for ``"softmax"`` changes nothing else — not even the
parameters (for a fixed seed the projection weights are identical).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
from flax import nnx
from flax.core import FrozenDict

from entropy_attention_jax.attention import attention_weights
from entropy_attention_jax.attention.kinds import KINDS, AttentionKind, get_kind
from entropy_attention_jax.attention.kinds._kind import CALL_ARGUMENTS
from entropy_attention_jax.entropy import softmax_entropy
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike, Shape

DEFAULT_DIAGNOSTICS_MAX_LENGTH = 64


class PerformerFeatures(nnx.Variable):
  """Fixed random projections ω of Performer attention (a kind's fixed parameter).

  Drawn once at construction and never trained: a `Variable` that is not an
  `nnx.Param`, so optimisers and parameter counts skip it, while checkpoints
  keep it (the features are part of the model's function).
  """


def _check_options(kind: AttentionKind, options: Mapping[str, Any]) -> None:
  """Rejects options the kind does not take or the layer sets itself."""
  accepted = set(kind.options)
  unknown = sorted(set(options) - accepted)
  if unknown:
    controlled = CALL_ARGUMENTS | (
        {kind.fixed.argument, *kind.fixed.replaces} if kind.fixed else set()
    )
    controlled = sorted(set(unknown) & controlled)
    hint = (
        f" {controlled} are set by the layer itself (constructor arguments or"
        " call arguments)." if controlled else ""
    )
    raise ValueError(
        f"EntropyLinearAttention: attention_options {unknown} do not apply to"
        f" attention={kind.name!r}; it accepts {sorted(accepted)}.{hint}"
    )


def _is_key_padding_mask(mask: ArrayLike | None, q_len: int) -> bool:
  if mask is None or q_len == 1:
    return True
  shape = jnp.shape(mask)
  return len(shape) < 2 or shape[-2] == 1


class EntropyLinearAttention(nnx.Module):
  """Multi-head attention with a selectable attention kind (EALA by default).

  Projects the inputs to `heads` queries, keys and values, applies the pure
  attention function of `attention`, drops out its per-head output (linear-time
  kinds never form the weights, so there is no weight dropout) and projects
  back. Diagnostics (θ, entropy targets, exact softmax entropy, explicit
  weights for short sequences) are sown as `nnx.Intermediate` only when
  `collect_diagnostics` is on; they never change the outputs. See
  :func:`entropy_attention_jax.nn.capture_attention_diagnostics`.

  Example usage::

    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> from entropy_attention_jax import EntropyLinearAttention
    >>> layer = EntropyLinearAttention(4, 32, rngs=nnx.Rngs(0))
    >>> layer(jnp.ones((2, 100, 32))).shape
    (2, 100, 32)

  Args:
    num_heads: number of heads; must divide `qkv_features`.
    in_features: size of the last axis of the inputs.
    qkv_features: total query/key/value size over all heads (default
      `in_features`); `head_dim = qkv_features // num_heads`.
    out_features: output size (default `in_features`).
    num_kv_heads: key/value heads (default `num_heads`); a divisor of
      `num_heads` gives grouped-query (1: multi-query) attention, each key
      head's statistics shared by its group of query heads.
    attention: a name in :data:`~entropy_attention_jax.attention.ATTENTION_KINDS`
      (``"eala"``, ``"softmax"``, ``"linear"``, ``"performer"``, ``"taylor"``).
    attention_options: keyword options of that kind's function, e.g.
      ``{"estimator": "gaussian_ensemble", "nonneg": True, "theta_scale": 1.0}``
      for EALA, ``{"num_features": 64}`` for Performer (its random features are
      drawn here from `rngs.params` and stored as :class:`PerformerFeatures`).
    causal: each query attends only to keys at or before its position (needs a
      kind whose function supports causal mode).
    decode: decode mode by default (see :meth:`init_cache`); a call's `decode`
      argument overrides it.
    dropout_rate: dropout on the per-head attention output, before the output
      projection; active only in training mode.
    use_bias: biases in the four projections.
    dtype: computation dtype (default: inferred from inputs and params).
    param_dtype: parameter dtype.
    precision: matmul precision.
    kernel_init, bias_init: projection initialisers.
    collect_diagnostics: sow diagnostics on every call (usually switched on
      temporarily with ``nnx.view(model, collect_diagnostics=True)``).
    diagnostics_max_length: explicit `[q_len, kv_len]` weights are sown only
      when both lengths are at most this.
    rngs: `params` stream for initialisation (and Performer features),
      `dropout` stream (falling back to `default`) for dropout.
  """

  def __init__(
      self,
      num_heads: int,
      in_features: int,
      *,
      qkv_features: int | None = None,
      out_features: int | None = None,
      num_kv_heads: int | None = None,
      attention: str = "eala",
      attention_options: Mapping[str, Any] | None = None,
      causal: bool = False,
      decode: bool = False,
      dropout_rate: float = 0.0,
      use_bias: bool = True,
      dtype: Dtype | None = None,
      param_dtype: Dtype = jnp.float32,
      precision: PrecisionLike = None,
      kernel_init: nnx.Initializer = nnx.initializers.lecun_normal(),
      bias_init: nnx.Initializer = nnx.initializers.zeros_init(),
      collect_diagnostics: bool = False,
      diagnostics_max_length: int = DEFAULT_DIAGNOSTICS_MAX_LENGTH,
      rngs: nnx.Rngs,
  ):
    qkv_features = in_features if qkv_features is None else qkv_features
    out_features = in_features if out_features is None else out_features
    if num_heads < 1 or qkv_features % num_heads:
      raise ValueError(
          f"EntropyLinearAttention: qkv_features={qkv_features} must be a"
          f" positive multiple of num_heads={num_heads}."
      )
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if num_kv_heads < 1 or num_heads % num_kv_heads:
      raise ValueError(
          f"EntropyLinearAttention: num_kv_heads={num_kv_heads} must divide"
          f" num_heads={num_heads}."
      )
    kind = get_kind(attention, "EntropyLinearAttention", "attention")
    if causal and not kind.causal:
      raise ValueError(
          f"EntropyLinearAttention: attention={attention!r} has no causal form;"
          f" causal kinds: {sorted(k.name for k in KINDS.values() if k.causal)}."
      )
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(
          f"EntropyLinearAttention: dropout_rate must be in [0, 1), got {dropout_rate}."
      )
    options = dict(attention_options or {})
    _check_options(kind, options)

    self.num_heads = num_heads
    self.num_kv_heads = num_kv_heads
    self.in_features = in_features
    self.qkv_features = qkv_features
    self.out_features = out_features
    self.head_dim = qkv_features // num_heads
    self.attention = attention
    self.causal = causal
    self.decode = decode
    self.decode_state: nnx.Cache | None = nnx.data(None)
    self.dtype = dtype
    self.precision = precision
    self.collect_diagnostics = collect_diagnostics
    self.diagnostics_max_length = diagnostics_max_length

    projection = dict(
        use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, precision=precision,
        kernel_init=kernel_init, bias_init=bias_init, rngs=rngs,
    )
    heads = (num_heads, self.head_dim)
    self.query = nnx.LinearGeneral(in_features, heads, **projection)
    kv_heads = (num_kv_heads, self.head_dim)
    self.key = nnx.LinearGeneral(in_features, kv_heads, **projection)
    self.value = nnx.LinearGeneral(in_features, kv_heads, **projection)
    self.out = nnx.LinearGeneral(heads, out_features, axis=(-2, -1), **projection)
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)

    # Drawn after the projections so that, for one seed, every kind gets the
    # same projection weights.
    if kind.fixed is not None:
      drawn_from = {name: options.pop(name, kind.options[name]) for name in kind.fixed.options}
      setattr(self, kind.fixed.attribute, PerformerFeatures(
          kind.fixed.make(rngs.params(), self.head_dim, **drawn_from)
      ))
    # Hashable, so the module's graph definition can be a static jit argument.
    self.attention_options = FrozenDict(options)

  def set_view(self, collect_diagnostics: bool | None = None) -> None:
    """Used by ``nnx.view(model, collect_diagnostics=...)``."""
    if collect_diagnostics is not None:
      self.collect_diagnostics = collect_diagnostics

  def init_cache(self, input_shape: Shape, dtype: Dtype = jnp.float32) -> None:
    """Initialises the decoding cache: the `O(1)` recurrent state, not a KV cache.

    Like Flax's ``MultiHeadAttention.init_cache``; afterwards each call with
    ``decode=True`` attends causally from the cached state over its tokens (one
    token, or a whole prompt at once for prefill) and stores the new state, so
    feeding a sequence token by token equals the causal forward pass. The
    cache is an :class:`~entropy_attention_jax.EalaState` (``"eala"``,
    ``"taylor"``) or a :class:`~entropy_attention_jax.attention.linear.LinearAttentionState`
    (``"linear"``): its size does not grow with the sequence.

    Args:
      input_shape: `[batch..., length, in_features]` of the inputs to come
        (the length is ignored).
      dtype: accepted for Flax compatibility; the state is always float32.

    Raises:
      ValueError: a kind without a recurrent state, or a non-causal layer.
    """
    del dtype
    kind = KINDS[self.attention]
    if kind.init_state is None or not self.causal:
      stateful = sorted(k.name for k in KINDS.values() if k.init_state is not None)
      raise ValueError(
          f"EntropyLinearAttention: decoding needs causal=True and a kind with a"
          f" recurrent state ({stateful}), got attention="
          f"{self.attention!r}, causal={self.causal}."
      )
    state = kind.init_state(
        tuple(input_shape[:-2]), self.num_kv_heads, self.head_dim, self.head_dim,
        self.attention_options,
    )
    self.decode_state = nnx.Cache(state)

  def _kind_options(self) -> dict[str, Any]:
    options = dict(self.attention_options)
    fixed = KINDS[self.attention].fixed
    if fixed is not None:
      options[fixed.argument] = getattr(self, fixed.attribute)[...]
    return options

  def __call__(
      self,
      inputs_q: Array,
      inputs_k: Array | None = None,
      inputs_v: Array | None = None,
      *,
      mask: ArrayLike | None = None,
      deterministic: bool | None = None,
      rngs: nnx.Rngs | nnx.RngStream | Array | None = None,
      decode: bool | None = None,
  ) -> Array:
    """Applies multi-head attention (self-attention when `inputs_k` is None).

    Args:
      inputs_q: `[batch..., q_len, in_features]`.
      inputs_k: `[batch..., kv_len, in_features]`; defaults to `inputs_q`.
      inputs_v: `[batch..., kv_len, in_features]`; defaults to `inputs_k`.
      mask: boolean, True keeps a pair; broadcastable to
        `[batch..., heads, q_len, kv_len]`. For the linear-time kinds it must be
        query validity x key validity (``nnx.make_attention_mask(pad, pad)``),
        optionally times a causal mask; padded query rows attend to nothing
        (zero before the output projection).
      deterministic: disables dropout; overrides the mode set with
        ``model.train()`` / ``model.eval()``.
      rngs: overrides the dropout stream given at construction (an
        `nnx.Rngs`, `nnx.RngStream` or key).
      decode: continue from the cached state (:meth:`init_cache`) and update
        it; self-attention only.

    Returns:
      Output of shape `[batch..., q_len, out_features]`.
    """
    if inputs_k is None:
      if inputs_v is not None:
        raise ValueError(
            "EntropyLinearAttention: inputs_v was given without inputs_k; pass"
            " both (or only inputs_k to use it as the values too)."
        )
      inputs_k = inputs_q
    if inputs_v is None:
      inputs_v = inputs_k
    for name, x in (("inputs_q", inputs_q), ("inputs_k", inputs_k), ("inputs_v", inputs_v)):
      if x.ndim < 2 or x.shape[-1] != self.in_features:
        raise ValueError(
            f"EntropyLinearAttention: {name} must be [batch..., length,"
            f" in_features={self.in_features}], got shape {x.shape}."
        )

    query = self.query(inputs_q)  # [batch..., q_len, heads, head_dim]
    key = self.key(inputs_k)
    value = self.value(inputs_v)
    options = self._kind_options()
    attention_fn = functools.partial(KINDS[self.attention].fn, **options)
    decode = self.decode if decode is None else decode
    if decode:
      if self.decode_state is None:
        raise ValueError(
            "EntropyLinearAttention: decode=True needs a cache; call"
            " init_cache(input_shape) first."
        )
      if inputs_k is not inputs_q:
        raise ValueError("EntropyLinearAttention: decoding is self-attention only.")
      output, state = attention_fn(
          query, key, value, mask=mask, causal=True, initial_state=self.decode_state.get_value(),
          output_final_state=True, dtype=self.dtype, precision=self.precision,
      )
      self.decode_state.set_value(state)
      output = self.dropout(output, deterministic=deterministic, rngs=rngs)
      return self.out(output)
    output = attention_fn(
        query, key, value, mask=mask, causal=self.causal, dropout_rate=0.0,
        deterministic=True, dtype=self.dtype, precision=self.precision,
    )
    if self.collect_diagnostics:
      self._sow_diagnostics(attention_fn, query, key, value, mask, options)
    output = self.dropout(output, deterministic=deterministic, rngs=rngs)
    return self.out(output)

  def _sow_diagnostics(
      self, attention_fn, query: Array, key: Array, value: Array,
      mask: ArrayLike | None, options: dict[str, Any],
  ) -> None:
    """Sows diagnostics from a separate computation that leaves the output alone.

    The barrier keeps XLA from merging this computation with the attention
    above (common-subexpression elimination would make the attention's
    intermediates extra outputs and could change its fusion, and so its last
    bits); outputs stay bitwise identical with and without diagnostics.
    """
    query, key, value = jax.lax.optimization_barrier((query, key, value))
    group = self.num_heads // self.num_kv_heads
    if group > 1:  # the explicit diagnostics take one key head per query head
      key, value = (jnp.repeat(x, group, axis=-2) for x in (key, value))
    q_len, kv_len = query.shape[-3], key.shape[-3]
    kind = KINDS[self.attention]
    if kind.sows:  # e.g. EALA's `theta` and `entropy_target`
      attention_fn(
          query, key, value, mask=mask, causal=self.causal, dtype=self.dtype,
          precision=self.precision, module=self,
      )
    scale = options.get("scale") if kind.scale_is_temperature else None
    if not self.causal and _is_key_padding_mask(mask, q_len):
      self.sow(
          nnx.Intermediate, "softmax_entropy",
          softmax_entropy(query, key, mask=mask, scale=scale),
      )
    if max(q_len, kv_len) <= self.diagnostics_max_length and (
        not self.causal or kind.causal_weights
    ):
      weight_options = {
          name: value for name, value in options.items() if name in kind.weight_options
      }
      if self.causal:
        weight_options["causal"] = True
      self.sow(
          nnx.Intermediate, "attention_weights",
          attention_weights(
              query, key, kind=self.attention, mask=mask, scale=options.get("scale"),
              **weight_options,
          ),
      )
      if self.attention != "softmax":  # the reference on the same queries and keys
        softmax_options = {"causal": True} if self.causal else {}
        self.sow(
            nnx.Intermediate, "softmax_weights",
            attention_weights(query, key, kind="softmax", mask=mask, scale=scale,
                              **softmax_options),
        )
