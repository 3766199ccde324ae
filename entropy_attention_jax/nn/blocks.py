"""Transformer blocks built on :class:`EntropyLinearAttention`."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax.numpy as jnp
from flax import nnx

from entropy_attention_jax.nn.attention import EntropyLinearAttention
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike


class FeedForward(nnx.Module):
  """Position-wise two-layer MLP, `features -> hidden_features -> features`.

  Args:
    features: input and output size.
    hidden_features: hidden size.
    activation: elementwise nonlinearity between the two layers.
    dtype, param_dtype, precision: as :class:`flax.nnx.Linear`.
    rngs: `params` stream for initialisation.
  """

  def __init__(
      self,
      features: int,
      hidden_features: int,
      *,
      activation: Callable[[Array], Array] = nnx.relu,
      dtype: Dtype | None = None,
      param_dtype: Dtype = jnp.float32,
      precision: PrecisionLike = None,
      rngs: nnx.Rngs,
  ):
    linear = dict(dtype=dtype, param_dtype=param_dtype, precision=precision, rngs=rngs)
    self.hidden = nnx.Linear(features, hidden_features, **linear)
    self.output = nnx.Linear(hidden_features, features, **linear)
    self.activation = activation

  def __call__(self, inputs: Array) -> Array:
    """`[batch..., features]` -> `[batch..., features]`."""
    return self.output(self.activation(self.hidden(inputs)))


class TransformerBlock(nnx.Module):
  """Post-norm transformer block (as in STAEformer and the original Transformer).

  .. code-block:: text

    x = LayerNorm(x + Dropout(Attention(x)))
    x = LayerNorm(x + Dropout(FeedForward(x)))

  Attention runs along the second-to-last axis: inputs are
  `[batch..., length, features]`, and any leading axes are independent
  sequences.

  Args:
    features: model width (input and output size).
    num_heads: attention heads; must divide `features`.
    hidden_features: feed-forward hidden size.
    attention: attention kind, see :class:`EntropyLinearAttention`.
    attention_options: options of that kind.
    causal: causal self-attention.
    dropout_rate: dropout on the attention and feed-forward branches before
      each residual sum (training mode only).
    attention_dropout_rate: dropout inside the attention layer, on its
      per-head output (STAEformer uses none).
    layer_norm_epsilon: LayerNorm epsilon (1e-5, PyTorch's default, as in
      STAEformer).
    dtype, param_dtype, precision: as Flax layers.
    rngs: `params` and `dropout` streams.
  """

  def __init__(
      self,
      features: int,
      num_heads: int,
      hidden_features: int,
      *,
      attention: str = "eala",
      attention_options: Mapping[str, Any] | None = None,
      causal: bool = False,
      dropout_rate: float = 0.0,
      attention_dropout_rate: float = 0.0,
      layer_norm_epsilon: float = 1e-5,
      dtype: Dtype | None = None,
      param_dtype: Dtype = jnp.float32,
      precision: PrecisionLike = None,
      rngs: nnx.Rngs,
  ):
    common = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.attention = EntropyLinearAttention(
        num_heads, features, attention=attention, attention_options=attention_options,
        causal=causal, dropout_rate=attention_dropout_rate, precision=precision, **common,
    )
    self.attention_norm = nnx.LayerNorm(features, epsilon=layer_norm_epsilon, **common)
    self.attention_dropout = nnx.Dropout(dropout_rate, rngs=rngs)
    self.feed_forward = FeedForward(
        features, hidden_features, precision=precision, **common
    )
    self.feed_forward_norm = nnx.LayerNorm(features, epsilon=layer_norm_epsilon, **common)
    self.feed_forward_dropout = nnx.Dropout(dropout_rate, rngs=rngs)

  def __call__(
      self,
      inputs: Array,
      *,
      mask: ArrayLike | None = None,
      deterministic: bool | None = None,
  ) -> Array:
    """Applies the block.

    Args:
      inputs: `[batch..., length, features]`.
      mask: attention mask, see :meth:`EntropyLinearAttention.__call__`.
      deterministic: disables dropout; overrides ``train()`` / ``eval()``.

    Returns:
      Output of shape `[batch..., length, features]`.
    """
    attended = self.attention(inputs, mask=mask, deterministic=deterministic)
    x = self.attention_norm(
        inputs + self.attention_dropout(attended, deterministic=deterministic)
    )
    transformed = self.feed_forward(x)
    return self.feed_forward_norm(
        x + self.feed_forward_dropout(transformed, deterministic=deterministic)
    )
