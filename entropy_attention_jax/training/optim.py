"""Optax optimisers with PyTorch-style step decay, as STAEformer trains.

A recipe is a few blocks chained (Optax's blocks-and-recipes split):
gradient clipping, then either L2 weight decay added to the gradient before
Adam (``"adam"``; what `torch.optim.Adam(weight_decay=...)` does) or Adam with
decoupled weight decay (``"adamw"``), scaled by a piecewise-constant schedule
that multiplies the rate by `decay_rate` at the start of each milestone epoch
(`torch.optim.lr_scheduler.MultiStepLR` stepped once per epoch).
"""

from __future__ import annotations

import optax

from entropy_attention_jax.training.config.schema import OPTIMIZERS, OptimConfig


def learning_rate_schedule(config: OptimConfig, steps_per_epoch: int) -> optax.Schedule:
  """Step decay: `learning_rate * decay_rate**k` from the k-th milestone epoch on.

  Args:
    config: learning rate, milestones (epochs) and decay rate.
    steps_per_epoch: optimiser steps per epoch, to turn epochs into steps.

  Returns:
    An Optax schedule of the step count (0-based: step `s` of epoch `e` has
    `s // steps_per_epoch == e`).
  """
  if steps_per_epoch < 1:
    raise ValueError(
        f"learning_rate_schedule: steps_per_epoch must be >= 1, got {steps_per_epoch}."
    )
  boundaries = {milestone * steps_per_epoch: config.decay_rate for milestone in config.milestones}
  return optax.piecewise_constant_schedule(config.learning_rate, boundaries)


def make_optimizer(config: OptimConfig, steps_per_epoch: int) -> optax.GradientTransformation:
  """The optimiser of `config` (module docstring).

  Args:
    config: optimiser settings.
    steps_per_epoch: optimiser steps per epoch (for the milestones).

  Returns:
    An `optax.GradientTransformation` whose `update` needs the params (for
    weight decay).
  """
  schedule = learning_rate_schedule(config, steps_per_epoch)
  blocks = []
  if config.clip_grad_norm > 0:
    blocks.append(optax.clip_by_global_norm(config.clip_grad_norm))
  if config.optimizer == "adam":
    if config.weight_decay > 0:
      blocks.append(optax.add_decayed_weights(config.weight_decay))
    blocks.append(optax.scale_by_adam(b1=config.b1, b2=config.b2, eps=config.eps))
    blocks.append(optax.scale_by_learning_rate(schedule))
  elif config.optimizer == "adamw":
    blocks.append(optax.adamw(
        schedule, b1=config.b1, b2=config.b2, eps=config.eps, weight_decay=config.weight_decay
    ))
  else:
    raise ValueError(
        f"make_optimizer: optimizer must be one of {list(OPTIMIZERS)}, got {config.optimizer!r}."
    )
  return optax.chain(*blocks)
