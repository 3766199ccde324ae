"""Optimisers and schedules against written-out update rules."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from entropy_attention_jax.training import OptimConfig
from entropy_attention_jax.training.optim import learning_rate_schedule, make_optimizer

LR, WD, EPS = 0.1, 0.01, 1e-8


def test_step_decay_at_milestone_epochs():
  config = OptimConfig(learning_rate=1.0, milestones=(2, 3), decay_rate=0.5)
  schedule = learning_rate_schedule(config, steps_per_epoch=10)
  values = [float(schedule(step)) for step in (0, 19, 20, 29, 30, 1000)]
  np.testing.assert_allclose(values, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25])


def _adam_reference(params, grads_per_step, *, decoupled: bool, clip: float = 0.0):
  """Adam with bias correction, written out; L2 (torch.optim.Adam) or decoupled decay."""
  m = v = np.zeros_like(params)
  for t, grad in enumerate(grads_per_step, start=1):
    if clip:
      grad = grad * min(1.0, clip / np.linalg.norm(grad))
    if not decoupled:
      grad = grad + WD * params
    m = 0.9 * m + 0.1 * grad
    v = 0.999 * v + 0.001 * grad**2
    update = (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + EPS)
    if decoupled:
      update = update + WD * params
    params = params - LR * update
  return params


def _run(config: OptimConfig, params, grads_per_step):
  optimizer = make_optimizer(config, steps_per_epoch=100)
  params = jnp.asarray(params)
  state = optimizer.init(params)
  for grad in grads_per_step:
    updates, state = optimizer.update(jnp.asarray(grad), state, params)
    params = optax.apply_updates(params, updates)
  return np.asarray(params)


def test_adam_l2_adamw_and_clipping_follow_their_rules():
  rng = np.random.default_rng(0)
  params = rng.normal(size=6).astype(np.float32)
  grads = [rng.normal(size=6).astype(np.float32) * 10 for _ in range(3)]
  for name, decoupled in (("adam", False), ("adamw", True)):
    config = OptimConfig(optimizer=name, learning_rate=LR, weight_decay=WD, eps=EPS)
    np.testing.assert_allclose(
        _run(config, params, grads), _adam_reference(params, grads, decoupled=decoupled), rtol=2e-5
    )
  clipped = OptimConfig(optimizer="adam", learning_rate=LR, weight_decay=WD, clip_grad_norm=1.0)
  np.testing.assert_allclose(
      _run(clipped, params, grads), _adam_reference(params, grads, decoupled=False, clip=1.0),
      rtol=2e-5,
  )
