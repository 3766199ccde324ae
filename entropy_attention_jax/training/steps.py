"""The jitted train, evaluation and prediction steps (pure functions of state and batch).

Each factory returns a plain Python function; :func:`jit_train_step` and
:func:`jit_eval_step` compile it for a mesh (state replicated, the batch
sharded as it arrives), the train step donating its state. Tests wrap the
plain functions in `chex.assert_max_traces` before jitting.

Batches are dicts of `x` `[batch, in_steps, nodes, features]` (z-scored
inputs and time features), `y` `[batch, out_steps, nodes, 1]` (original
scale, NaN where missing), `valid` `[batch]` (False for padding rows) and,
with known-future covariates, `future` `[batch, out_steps, nodes, f]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import optax
from flax import nnx
from jax.sharding import Mesh

from entropy_attention_jax.training.losses import forecasting_loss, target_mask
from entropy_attention_jax.training.metrics import ErrorSums, error_sums
from entropy_attention_jax.training.sharding import batch_sharded, replicated
from entropy_attention_jax.training.state import ModelDef, TrainState, dropout_key

Batch = Mapping[str, jax.Array]


def _forecast(
    model_def: ModelDef, scaler: Any, params, fixed, batch: Batch,
    dropout: jax.Array | None = None, *, scaled: bool = False,
) -> jax.Array:
  """The model's forecast, `[batch, out_steps, nodes, 1]`, on the original scale.

  With a `dropout` key, every dropout stream is re-seeded from it (each
  stream its own fold) and dropout is on; without, it is off. `scaled`
  returns the z-scores the model outputs instead.
  """
  model = model_def.merge(params, fixed)
  if dropout is not None:
    nnx.reseed(model, dropout=dropout)
  output = model(batch["x"], batch.get("future"), deterministic=dropout is None)
  return output if scaled else scaler.inverse_transform(output)


def make_train_step(
    model_def: ModelDef,
    optimizer: optax.GradientTransformation,
    scaler: Any,
    *,
    loss: str = "huber",
    huber_delta: float = 1.0,
    mask_zeros: bool = True,
    missing_value: float | None = 0.0,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
  """One optimiser step on the loss of one batch.

  Args:
    model_def: the split model.
    optimizer: the optimiser whose state is in `TrainState.opt_state`.
    scaler: the data's `StandardScaler`. A global one maps predictions back
      to the original scale before the loss (STAEformer); with a per-node one
      the loss compares z-scores, so every series counts alike.
    loss: ``"huber"`` or ``"mae"``.
    huber_delta: Huber's threshold (in the units the loss compares).
    mask_zeros: leave the targets equal to `missing_value` out of the loss
      (NaN targets are always left out).
    missing_value: the dataset's missing-reading marker besides NaN.

  Returns:
    `train_step(state, batch) -> (new_state, measurements)`, measurements
    `{"loss", "grad_norm"}` float32 scalars.
  """

  scaled = bool(getattr(scaler, "per_node", False))

  def loss_fn(params, fixed, batch: Batch, key: jax.Array) -> jax.Array:
    # Dropout masks depend on (seed, step) only, so resuming is exact.
    predictions = _forecast(model_def, scaler, params, fixed, batch, dropout=key, scaled=scaled)
    mask = target_mask(
        batch["y"], batch["valid"], mask_zeros=mask_zeros, missing_value=missing_value
    )
    targets = scaler.transform(batch["y"]) if scaled else batch["y"]
    return forecasting_loss(predictions, targets, mask, kind=loss, huber_delta=huber_delta)

  def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, jax.Array]]:
    value, grads = jax.value_and_grad(loss_fn)(state.params, state.fixed, batch, dropout_key(state))
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    new_state = state.replace(
        step=state.step + 1, params=optax.apply_updates(state.params, updates), opt_state=opt_state
    )
    return new_state, {"loss": value, "grad_norm": optax.tree.norm(grads)}

  return train_step


def make_eval_step(
    model_def: ModelDef, scaler: Any, missing_value: float | None = 0.0
) -> Callable[..., ErrorSums]:
  """Per-step, per-node error sums of one batch with dropout off.

  Returns:
    `eval_step(params, fixed, batch) -> ErrorSums` of `[out_steps, nodes]` float32.
  """

  def eval_step(params, fixed, batch: Batch) -> ErrorSums:
    predictions = _forecast(model_def, scaler, params, fixed, batch)
    return error_sums(predictions, batch["y"], batch["valid"], missing_value)

  return eval_step


def make_predict_step(model_def: ModelDef, scaler: Any) -> Callable[..., jax.Array]:
  """Forecasts of one batch on the original scale, dropout off.

  Returns:
    `predict_step(params, fixed, batch) -> [batch, out_steps, nodes, 1]`.
  """

  def predict_step(params, fixed, batch: Batch) -> jax.Array:
    return _forecast(model_def, scaler, params, fixed, batch)

  return predict_step


def jit_train_step(train_step: Callable, mesh: Mesh, state_sharding: Any = None) -> Callable:
  """`train_step` compiled for `mesh`: state donated, kept as `state_sharding`.

  `state_sharding` (a pytree of shardings, `sharding.state_sharding`)
  defaults to replicated: node sharding splits the per-node tables.

  The batch keeps the sharding it arrives with (`sharding.shard_batch` /
  `global_batch`: rows over ``"data"``, nodes over ``"nodes"``); XLA
  propagates it through the model.
  """
  state_sharding = replicated(mesh) if state_sharding is None else state_sharding
  return jax.jit(
      train_step, out_shardings=(state_sharding, replicated(mesh)), donate_argnums=0
  )


def jit_eval_step(step: Callable, mesh: Mesh, *, split_output: bool = False) -> Callable:
  """An eval or predict step compiled for `mesh` (variables replicated, batch as placed).

  Args:
    step: `step(params, fixed, batch)`.
    mesh: the device mesh.
    split_output: the output is per sample (predictions `[batch, out_steps,
      nodes, 1]`) and stays split like the batch; otherwise it is replicated
      (sums).
  """
  out = batch_sharded(mesh, rank=4) if split_output else replicated(mesh)
  return jax.jit(step, out_shardings=out)
