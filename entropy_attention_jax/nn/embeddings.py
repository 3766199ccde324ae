"""Embeddings of a spatio-temporal forecaster: periodic slots and learned tables."""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from entropy_attention_jax.typing import Array, Dtype, Shape

# A slot index k stored as the float fraction k / period can land a few ulps
# below k after multiplying back; this fraction of a slot absorbs that.
_SLOT_TOLERANCE = 1e-3


class PeriodicEmbedding(nnx.Module):
  """Embedding of a position within a repeating cycle of `period` slots.

  Time of day is `PeriodicEmbedding(steps_per_day, ...)` called with
  `time_of_day_fraction * steps_per_day`; day of week is
  `PeriodicEmbedding(7, ...)` called with the day index. Positions are floored
  to a slot and wrapped modulo `period`, so a fraction of exactly 1.0 is
  midnight again and never indexes out of range.

  Args:
    period: number of slots in one cycle.
    features: embedding size.
    dtype, param_dtype: as :class:`flax.nnx.Embed`.
    rngs: `params` stream for initialisation.
  """

  def __init__(
      self,
      period: int,
      features: int,
      *,
      dtype: Dtype | None = None,
      param_dtype: Dtype = jnp.float32,
      rngs: nnx.Rngs,
  ):
    if period < 1 or features < 1:
      raise ValueError(
          f"PeriodicEmbedding: period and features must be >= 1, got {period}"
          f" and {features}."
      )
    self.period = period
    self.table = nnx.Embed(period, features, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

  def __call__(self, position: Array) -> Array:
    """Embeds positions in slot units.

    Args:
      position: float or integer array of any shape `[...]`, in slot units
        (e.g. `time_of_day * steps_per_day`).

    Returns:
      Output of shape `[..., features]`.
    """
    slot = jnp.floor(jnp.asarray(position, jnp.float32) + _SLOT_TOLERANCE)
    return self.table(jnp.mod(slot.astype(jnp.int32), self.period))


class AdaptiveEmbedding(nnx.Module):
  """A freely learned table of embeddings, e.g. STAEformer's `[in_steps, nodes, features]`.

  Initialised with Xavier-uniform fans computed as PyTorch does for a tensor
  of this shape (fan in = `shape[1] * receptive`, fan out =
  `shape[0] * receptive`), as STAEformer initialises its adaptive embedding.

  Args:
    shape: table shape, the last axis being the features.
    param_dtype: parameter dtype.
    rngs: `params` stream for initialisation.
  """

  def __init__(self, shape: Shape, *, param_dtype: Dtype = jnp.float32, rngs: nnx.Rngs):
    shape = tuple(shape)
    if len(shape) < 2 or min(shape) < 1:
      raise ValueError(
          f"AdaptiveEmbedding: shape must have >= 2 positive axes, got {shape}."
      )
    init = nnx.initializers.xavier_uniform(in_axis=1, out_axis=0)
    self.table = nnx.Param(init(rngs.params(), shape, param_dtype))

  def __call__(self, batch_shape: Shape = ()) -> Array:
    """The table broadcast to `[*batch_shape, *shape]`."""
    table = self.table[...]
    return jnp.broadcast_to(table, (*batch_shape, *table.shape))
