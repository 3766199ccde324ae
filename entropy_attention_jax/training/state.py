"""Training state: the device pytree that is checkpointed, and host bookkeeping.

The model is split once with `nnx.split` into a static graph definition, its
trained parameters (`nnx.Param`), its dropout RNG streams (`nnx.RngState`) and
any other variable (fixed ones such as Performer features). Only parameters,
fixed variables, the optimiser state, the step and the base PRNG key are
state: the dropout streams are re-seeded every step from
`fold_in(key, step)`, so a run resumed at step `s` draws exactly the dropout
masks an uninterrupted run draws there.

:class:`Progress` is the host side: where in the data the run is (epoch,
batch), the early-stopping record, running loss sums and how much of the
metrics log belongs to this state. It is stored as JSON beside the state.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from entropy_attention_jax.models import ELinFormer, ELinFormerConfig


@flax.struct.dataclass
class TrainState:
  """What a training step reads and writes (a pytree; donated to the step).

  Attributes:
    step: int32 scalar, optimiser steps taken.
    params: the model's `nnx.Param` state.
    fixed: the model's other non-RNG variables (often empty).
    opt_state: the optimiser's state.
    rng: `[2]` uint32 raw key data; dropout at step `s` uses
      `fold_in(key, s)`.
  """

  step: jax.Array
  params: nnx.State
  fixed: nnx.State
  opt_state: optax.OptState
  rng: jax.Array

  @property
  def model_variables(self) -> dict[str, nnx.State]:
    """What the best checkpoint keeps: everything the forward pass needs."""
    return {"params": self.params, "fixed": self.fixed}


@dataclasses.dataclass(frozen=True)
class ModelDef:
  """The static half of a split model, to rebuild it inside jitted functions.

  Attributes:
    graphdef: `nnx.GraphDef` of the model.
    rngs: its dropout RNG streams (a template: re-seeded every step).
  """

  graphdef: Any
  rngs: nnx.State

  def merge(self, params: nnx.State, fixed: nnx.State) -> nnx.Module:
    """A fresh model from `params` and `fixed` (copies, so safe inside transforms)."""
    return nnx.merge(self.graphdef, params, self.rngs, fixed, copy=True)


def split_model(model: nnx.Module) -> tuple[ModelDef, nnx.State, nnx.State]:
  """`(model_def, params, fixed)` of a model."""
  graphdef, params, rngs, fixed = nnx.split(model, nnx.Param, nnx.RngState, ...)
  return ModelDef(graphdef, rngs), params, fixed


def init_train_state(
    model_config: ELinFormerConfig, optimizer: optax.GradientTransformation, seed: int
) -> tuple[ModelDef, TrainState]:
  """A freshly initialised ELinFormer and optimiser, on the default device.

  Args:
    model_config: the model.
    optimizer: the optimiser.
    seed: parameters come from `split(key(seed))[0]`; dropout from the second key.

  Returns:
    `(model_def, state)` with `state.step == 0`.
  """
  init_key, dropout_key = jax.random.split(jax.random.key(seed))
  model = ELinFormer(model_config, rngs=nnx.Rngs(params=init_key, dropout=dropout_key))
  model_def, params, fixed = split_model(model)
  state = TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      fixed=fixed,
      opt_state=optimizer.init(params),
      rng=jax.random.key_data(dropout_key),
  )
  return model_def, state


def dropout_key(state: TrainState) -> jax.Array:
  """The dropout key of the step `state.step` (a function of seed and step only)."""
  return jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)


@dataclasses.dataclass
class EarlyStopping:
  """Record of the best validation MAE so far.

  Attributes:
    best_value: lowest validation MAE seen (None before the first evaluation).
    best_epoch: epoch (0-based) that reached it.
    best_step: step that reached it.
    bad_epochs: evaluations since, without improvement.
  """

  best_value: float | None = None
  best_epoch: int = -1
  best_step: int = 0
  bad_epochs: int = 0

  def update(self, value: float | None, *, epoch: int, step: int) -> bool:
    """Records an evaluation; True when it is a new best (NaN/None never is)."""
    if value is not None and math.isfinite(value) and (
        self.best_value is None or value < self.best_value
    ):
      self.best_value, self.best_epoch, self.best_step, self.bad_epochs = value, epoch, step, 0
      return True
    self.bad_epochs += 1
    return False

  def should_stop(self, patience: int) -> bool:
    """True after `patience` evaluations without improvement (never for 0)."""
    return patience > 0 and self.bad_epochs >= patience


# Progress fields that checkpoints of earlier versions do not have.
_OPTIONAL_FIELDS = frozenset({"metrics_log_sha256"})


@dataclasses.dataclass
class Progress:
  """Host-side position of a run, saved as JSON with each checkpoint.

  Attributes:
    step: optimiser steps taken (equals the checkpointed `TrainState.step`).
    epoch: current epoch, 0-based.
    batch_in_epoch: next batch of `epoch` to train on.
    early_stopping: best validation MAE record.
    epoch_loss_sum, epoch_loss_count: training loss summed over this epoch's steps.
    log_loss_sum, log_loss_count: the same since the last training log line.
    metrics_log_bytes: size of ``metrics.jsonl`` when this state was saved;
      a resumed run cuts the log back to it, so no line is lost or repeated.
    metrics_log_sha256: SHA-256 (hex) of those bytes; a resumed run refuses a
      log whose kept part changed ("" in checkpoints written before it existed).
    elapsed_seconds: training wall time up to this state, over all sessions.
    finished: the run ended (all epochs, or early stopping).
    stop_reason: why it ended: ``"epochs"`` or ``"early_stopping"``.
  """

  step: int = 0
  epoch: int = 0
  batch_in_epoch: int = 0
  early_stopping: EarlyStopping = dataclasses.field(default_factory=EarlyStopping)
  epoch_loss_sum: float = 0.0
  epoch_loss_count: int = 0
  log_loss_sum: float = 0.0
  log_loss_count: int = 0
  metrics_log_bytes: int = 0
  metrics_log_sha256: str = ""
  elapsed_seconds: float = 0.0
  finished: bool = False
  stop_reason: str = ""

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, fields: dict[str, Any]) -> Progress:
    """Inverse of :meth:`to_dict`.

    Fields added later (`_OPTIONAL_FIELDS`) may be missing: older
    checkpoints get their defaults.

    Raises:
      ValueError: missing or unknown keys.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    if not names - _OPTIONAL_FIELDS <= set(fields) <= names:
      raise ValueError(
          f"progress record has keys {sorted(fields)}; expected {sorted(names)}."
      )
    early = dict(fields["early_stopping"])
    return cls(**{**fields, "early_stopping": EarlyStopping(**early)})
