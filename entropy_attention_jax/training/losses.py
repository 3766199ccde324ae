"""Training losses on the original scale of the signal, with a sample mask.

STAEformer maps predictions back to the original scale before the loss
(Huber on PeMS flow, masked MAE on METR-LA / PEMS-BAY speed); with per-node
scaling the loss compares z-scores instead, so every series counts alike.
Missing targets are NaN (always left out) or the dataset's `missing_value`
(the traffic benchmarks' zeros, left out when asked); :func:`target_mask`
also leaves out the padding rows of a batch.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from entropy_attention_jax.typing import Array

LOSSES: tuple[str, ...] = ("huber", "mae")


def float32_pair(predictions: Array, targets: Array, caller: str) -> tuple[Array, Array]:
  """Both arrays in float32, after checking that their shapes agree.

  Raises:
    ValueError: naming `caller`, when the shapes differ.
  """
  if predictions.shape != targets.shape:
    raise ValueError(
        f"{caller}: predictions {predictions.shape} and targets {targets.shape} must have"
        " the same shape."
    )
  return jnp.asarray(predictions, jnp.float32), jnp.asarray(targets, jnp.float32)


def target_mask(
    targets: Array, valid: Array, *, mask_zeros: bool, missing_value: float | None = 0.0
) -> Array:
  """Which target values count.

  Args:
    targets: `[batch, out_steps, nodes, channels]`; NaN marks missing ones.
    valid: `[batch]` bool, False for padding rows.
    mask_zeros: also leave out the targets equal to `missing_value` (the
      zeros that mark missing readings in the traffic benchmarks).
    missing_value: the dataset's missing-reading marker besides NaN (None:
      none, zeros are real values).

  Returns:
    Bool mask of the shape of `targets`.
  """
  mask = jnp.broadcast_to(valid.reshape(-1, *([1] * (targets.ndim - 1))), targets.shape)
  mask = mask & ~jnp.isnan(targets)
  if mask_zeros and missing_value is not None:
    mask = mask & (targets != missing_value)
  return mask


def masked_mean(values: Array, mask: Array) -> Array:
  """Mean of `values` where `mask`; 0 when nothing is selected."""
  total = jnp.sum(jnp.where(mask, values, 0), dtype=jnp.float32)
  return total / jnp.maximum(jnp.sum(mask, dtype=jnp.float32), 1.0)


def forecasting_loss(
    predictions: Array,
    targets: Array,
    mask: Array,
    *,
    kind: str = "huber",
    huber_delta: float = 1.0,
) -> Array:
  """Scalar loss over the selected entries.

  Args:
    predictions: `[batch, out_steps, nodes, channels]`, original scale.
    targets: same shape, original scale.
    mask: bool, same shape (see :func:`target_mask`).
    kind: ``"huber"`` (`optax.losses.huber_loss`: quadratic below
      `huber_delta`, linear above, as `torch.nn.HuberLoss`) or ``"mae"``.
    huber_delta: Huber's threshold.

  Returns:
    Float32 scalar: the masked mean of the elementwise loss.

  Raises:
    ValueError: an unknown `kind`, or shapes that differ.
  """
  predictions, targets = float32_pair(predictions, targets, "forecasting_loss")
  # Masked-out targets may be NaN: replace them before any arithmetic, so no
  # NaN reaches the gradient through the masked branch.
  targets = jnp.where(mask, targets, predictions)
  if kind == "huber":
    elementwise = optax.losses.huber_loss(predictions, targets, delta=huber_delta)
  elif kind == "mae":
    elementwise = jnp.abs(predictions - targets)
  else:
    raise ValueError(f"forecasting_loss: kind must be one of {list(LOSSES)}, got {kind!r}.")
  return masked_mean(elementwise, mask)
