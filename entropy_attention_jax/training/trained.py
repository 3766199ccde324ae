"""A trained model from a work directory, ready to call.

::

  from entropy_attention_jax import training

  loaded = training.load_model("runs/demo")          # the best checkpoint
  loaded.model.eval()                                 # already in eval mode; dropout off
  forecast = loaded.scaler.inverse_transform(loaded.model(x, future))

Only what the run stored is read (``W/config.json``, ``W/scaler.json`` and
one checkpoint); the dataset is not needed. The model is the one `predict`
and `evaluate` run: same weights, same forward pass.
"""

from __future__ import annotations

import pathlib
from typing import NamedTuple

from entropy_attention_jax.data import StandardScaler
from entropy_attention_jax.models import ELinFormer, ELinFormerConfig
from entropy_attention_jax.training.checkpoint import restore_model_variables
from entropy_attention_jax.training.config import ExperimentConfig
from entropy_attention_jax.training.optim import make_optimizer
from entropy_attention_jax.training.state import init_train_state
from entropy_attention_jax.training.workdir import load_config, load_scaler


class LoadedModel(NamedTuple):
  """What :func:`load_model` returns.

  Attributes:
    model: the ELinFormer with the checkpoint's weights, in eval mode. It
      maps z-scored inputs `x` `[batch, in_steps, nodes, channels]` (and
      `future` where the run has known-future covariates) to z-scored
      forecasts `[batch, out_steps, nodes, 1]`.
    config: the run's resolved config (``W/config.json``).
    scaler: the run's scaler; `scaler.inverse_transform(output)` gives the
      forecasts on the original scale.
    step: the checkpoint's training step.
  """

  model: ELinFormer
  config: ExperimentConfig
  scaler: StandardScaler
  step: int


def load_model(workdir: str | pathlib.Path, checkpoint: str = "best") -> LoadedModel:
  """The trained ELinFormer of a work directory, with its config and scaler.

  Args:
    workdir: a directory `train` wrote.
    checkpoint: ``"best"`` (lowest validation MAE) or ``"latest"``.

  Returns:
    A :class:`LoadedModel`.

  Raises:
    IncompatibleRunError: `workdir` holds no run (no config or scaler).
    CheckpointError: no such checkpoint, or it cannot be read.
    ValueError: unknown `checkpoint` kind.
  """
  workdir = pathlib.Path(workdir).absolute()
  config = load_config(workdir)
  scaler = load_scaler(workdir)
  # The optimiser only shapes the latest checkpoint's state (its schedule
  # does not), so one step per epoch is as good as the run's.
  model_def, target = init_train_state(
      ELinFormerConfig.from_dict(config.model), make_optimizer(config.optim, 1), config.train.seed
  )
  variables, step = restore_model_variables(workdir, target, checkpoint)
  model = model_def.merge(variables["params"], variables["fixed"])
  model.eval()
  return LoadedModel(model=model, config=config, scaler=scaler, step=step)
