"""The schema of a run's configuration: four typed, validated sections.

A run is configured by one :class:`ExperimentConfig` with four sections:

- ``data``: which dataset and how to cut it (:class:`DataConfig`);
- ``model``: :class:`~entropy_attention_jax.models.ELinFormerConfig` fields;
  the ones the data determines (:data:`DATA_DERIVED_MODEL_FIELDS`) are filled
  in by `config.resolve` and must not be set by hand;
- ``optim``: Optax optimiser and learning-rate schedule (:class:`OptimConfig`);
- ``train``: batch size, epochs, loss, early stopping, checkpoints
  (:class:`TrainConfig`).

Every field has its type annotation and default here, and each section
checks its values when built (one `ConfigError` naming the key). A new
setting is one field in one of these classes; overrides, ``config.json`` and
the CLI's ``--set`` pick it up from the annotation.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from entropy_attention_jax.models import ELinFormerConfig
from entropy_attention_jax.training.config.coercion import (
    ConfigError,
    check,
    coerce,
    field_types,
    plain,
)
from entropy_attention_jax.training.losses import LOSSES

__all__ = [
    "DATA_DERIVED_MODEL_FIELDS", "OPTIMIZERS", "RESUMABLE_CHANGES", "SECTIONS", "SECTION_TYPES",
    "ConfigError", "DataConfig", "ExperimentConfig", "OptimConfig", "TrainConfig",
    "default_data_dir", "model_field_type",
]

# Optimiser recipes of `training.optim.make_optimizer` (`optim.optimizer`).
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")

SECTIONS: tuple[str, ...] = ("data", "model", "optim", "train")

# ELinFormerConfig fields that the data determines (see `resolve`).
DATA_DERIVED_MODEL_FIELDS: tuple[str, ...] = (
    "num_nodes", "in_steps", "out_steps", "steps_per_day",
    "time_of_day_channel", "day_of_week_channel", "month_of_year_channel", "future_dim",
)
# Keys that may differ between a stored run and the command resuming it: they
# change neither the model, the data order nor any number the run computes.
RESUMABLE_CHANGES: frozenset[str] = frozenset({
    "data.data_dir", "data.manual_dir", "train.epochs",
    "train.checkpoint_every_steps", "train.log_every_steps",
    "train.max_steps", "train.max_minutes",
})


def default_data_dir() -> str:
  """Where datasets are built when no directory is given: TFDS's convention."""
  return os.environ.get("TFDS_DATA_DIR") or str(pathlib.Path("~/tensorflow_datasets").expanduser())


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Dataset and windows; arguments of `data.load_forecasting_data`.

  Attributes:
    dataset: a dataset name of `entropy_attention_jax.data.dataset_names()`.
    data_dir: where datasets are built; None: `$TFDS_DATA_DIR` or
      `~/tensorflow_datasets`.
    manual_dir: where manual files (PeMS, METR-LA, ...) are; None: the data
      layer's default, `<data_dir>/downloads/manual`.
    in_steps: input steps per sample; None: the frequency's default (at
      least one seasonal period, `data.calendar.default_window`).
    out_steps: predicted steps per sample; None: the frequency's default.
    split_ratios: `(train, val, test)` fractions; None: the dataset's default.
    input_channels: series channels fed as inputs, the target (0) first.
    scaler_ignore_zeros: fit the z-score without zeros (missing readings).
    scaling: ``"global"`` (one mean/std per channel, the traffic benchmarks'
      convention) or ``"per_node"`` (one per series: wide tables, Chicago);
      None: the dataset's default. With per-node scaling the loss is taken
      on the scaled target, so every series counts alike.
    builder_options: dataset options, e.g. `{"nodes": 20, "days": 14, "seed": 0}`
      for `synthetic_traffic`, `{"file": "my.csv"}` for `wide_table`.
  """

  dataset: str = "synthetic_traffic"
  data_dir: str | None = None
  manual_dir: str | None = None
  in_steps: int | None = None
  out_steps: int | None = None
  split_ratios: tuple[float, ...] | None = None
  input_channels: tuple[int, ...] = (0,)
  scaler_ignore_zeros: bool = False
  scaling: str | None = None
  builder_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    check(bool(self.dataset), "data.dataset must be a dataset name, got an empty string.")
    check(
        self.in_steps is None or self.in_steps >= 1,
        f"data.in_steps must be >= 1 (or none), got {self.in_steps}.",
    )
    check(
        self.out_steps is None or self.out_steps >= 1,
        f"data.out_steps must be >= 1 (or none), got {self.out_steps}.",
    )
    check(
        self.scaling in (None, "global", "per_node"),
        f"data.scaling must be global, per_node or none, got {self.scaling!r}.",
    )
    check(
        self.split_ratios is None or len(self.split_ratios) == 3,
        f"data.split_ratios must be three fractions (train, val, test), got {self.split_ratios}.",
    )
    check(bool(self.input_channels), "data.input_channels must name at least the target, 0.")
    object.__setattr__(self, "builder_options", dict(self.builder_options))


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  """Optax optimiser and step-decay schedule.

  Attributes:
    optimizer: ``"adam"``: weight decay added to the gradient before Adam
      (L2, as `torch.optim.Adam(weight_decay=...)` in STAEformer);
      ``"adamw"``: decoupled weight decay (`optax.adamw`).
    learning_rate: initial learning rate.
    weight_decay: decay coefficient (0 = none).
    milestones: epochs at whose start the learning rate is multiplied by
      `decay_rate` (PyTorch's `MultiStepLR` stepped once per epoch).
    decay_rate: factor applied at each milestone.
    clip_grad_norm: clip gradients to this global norm first (0 = no clipping).
    b1, b2, eps: Adam's moment decays and denominator floor.
  """

  optimizer: str = "adam"
  learning_rate: float = 1e-3
  weight_decay: float = 0.0
  milestones: tuple[int, ...] = ()
  decay_rate: float = 0.1
  clip_grad_norm: float = 0.0
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8

  def __post_init__(self):
    check(
        self.optimizer in OPTIMIZERS,
        f"optim.optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}.",
    )
    check(self.learning_rate > 0, f"optim.learning_rate must be > 0, got {self.learning_rate}.")
    check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}.")
    check(
        all(m >= 1 for m in self.milestones)
        and all(a < b for a, b in zip(self.milestones, self.milestones[1:])),
        f"optim.milestones must be increasing epochs >= 1, got {list(self.milestones)}.",
    )
    check(self.decay_rate > 0, f"optim.decay_rate must be > 0, got {self.decay_rate}.")
    check(
        self.clip_grad_norm >= 0,
        f"optim.clip_grad_norm must be >= 0, got {self.clip_grad_norm}.",
    )
    check(
        0 <= self.b1 < 1 and 0 <= self.b2 < 1,
        f"optim.b1, b2 must be in [0, 1), got {self.b1}, {self.b2}.",
    )
    check(self.eps > 0, f"optim.eps must be > 0, got {self.eps}.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Training loop settings.

  Attributes:
    epochs: maximum number of epochs.
    batch_size: training samples per step (the last partial batch of an
      epoch is dropped).
    eval_batch_size: samples per evaluation batch; None: `batch_size`.
    seed: initialisation, data order and dropout all derive from it.
    loss: ``"huber"`` or ``"mae"``, on the original scale of the signal.
    huber_delta: Huber's threshold between the squared and linear parts.
    mask_zeros: leave the readings that the dataset marks missing with 0
      (the traffic benchmarks) out of the loss; STAEformer masks them for
      METR-LA / PEMS-BAY only. NaN targets are always left out, and the
      evaluation metrics leave out every missing target.
    patience: stop after this many epochs without a lower validation MAE
      (0 = never stop early).
    checkpoint_every_steps: also checkpoint every this many steps inside
      an epoch (0 = only at epoch ends).
    log_every_steps: write the mean training loss every this many steps.
    max_steps: stop this session after this many training steps in all
      (0 = no limit); the run can be resumed with a larger limit.
    max_minutes: stop this session after this many minutes of training
      (0 = no limit). A run stopped by a limit (or by Ctrl-C) still evaluates
      its best checkpoint on the test split.
  """

  epochs: int = 100
  batch_size: int = 16
  eval_batch_size: int | None = None
  seed: int = 0
  loss: str = "huber"
  huber_delta: float = 1.0
  mask_zeros: bool = True
  patience: int = 20
  checkpoint_every_steps: int = 500
  log_every_steps: int = 50
  max_steps: int = 0
  max_minutes: float = 0.0

  def __post_init__(self):
    check(self.epochs >= 1, f"train.epochs must be >= 1, got {self.epochs}.")
    check(self.batch_size >= 1, f"train.batch_size must be >= 1, got {self.batch_size}.")
    check(
        self.eval_batch_size is None or self.eval_batch_size >= 1,
        f"train.eval_batch_size must be >= 1 or None, got {self.eval_batch_size}.",
    )
    check(self.seed >= 0, f"train.seed must be >= 0, got {self.seed}.")
    check(self.loss in LOSSES, f"train.loss must be one of {list(LOSSES)}, got {self.loss!r}.")
    check(self.huber_delta > 0, f"train.huber_delta must be > 0, got {self.huber_delta}.")
    check(self.patience >= 0, f"train.patience must be >= 0, got {self.patience}.")
    check(
        self.checkpoint_every_steps >= 0,
        f"train.checkpoint_every_steps must be >= 0, got {self.checkpoint_every_steps}.",
    )
    check(
        self.log_every_steps >= 1,
        f"train.log_every_steps must be >= 1, got {self.log_every_steps}.",
    )
    check(self.max_steps >= 0, f"train.max_steps must be >= 0, got {self.max_steps}.")
    check(self.max_minutes >= 0, f"train.max_minutes must be >= 0, got {self.max_minutes}.")

  @property
  def resolved_eval_batch_size(self) -> int:
    return self.batch_size if self.eval_batch_size is None else self.eval_batch_size


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  """Everything a run needs; stored as ``W/config.json``.

  Attributes:
    data: dataset and windows.
    model: :class:`ELinFormerConfig` fields (a partial set before
      :func:`resolve`, all of them after).
    optim: optimiser and schedule.
    train: loop settings.
  """

  data: DataConfig = dataclasses.field(default_factory=DataConfig)
  model: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
  train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

  def __post_init__(self):
    model = dict(self.model)
    for name, value in model.items():
      model[name] = coerce(value, model_field_type(name), f"model.{name}")
    object.__setattr__(self, "model", model)

  def to_dict(self) -> dict[str, Any]:
    """JSON-ready nested dict (tuples become lists)."""
    return json.loads(json.dumps({
        "data": dataclasses.asdict(self.data),
        "model": {name: plain(value) for name, value in self.model.items()},
        "optim": dataclasses.asdict(self.optim),
        "train": dataclasses.asdict(self.train),
    }))

  @classmethod
  def from_dict(cls, fields: Mapping[str, Any]) -> ExperimentConfig:
    """Inverse of :meth:`to_dict`; unknown sections or keys raise `ConfigError`."""
    unknown = sorted(set(fields) - set(SECTIONS))
    check(not unknown, f"unknown config sections {unknown}; expected {list(SECTIONS)}.")
    sections = {}
    for name in ("data", "optim", "train"):
      section_type = SECTION_TYPES[name]
      values = dict(fields.get(name, {}))
      hints = field_types(section_type)
      bad = sorted(set(values) - set(hints))
      check(not bad, f"unknown keys {[f'{name}.{k}' for k in bad]}; {name} has {sorted(hints)}.")
      sections[name] = section_type(
          **{key: coerce(value, hints[key], f"{name}.{key}") for key, value in values.items()}
      )
    return cls(model=dict(fields.get("model", {})), **sections)

  def flat(self) -> dict[str, Any]:
    """`{"section.key": value}` for every key (model options stay mappings)."""
    return {
        f"{section}.{key}": value
        for section, values in self.to_dict().items()
        for key, value in values.items()
    }


SECTION_TYPES: dict[str, type] = {"data": DataConfig, "optim": OptimConfig, "train": TrainConfig}


def model_field_type(name: str) -> Any:
  """The annotation of `ELinFormerConfig.<name>`; an unknown name raises `ConfigError`."""
  hints = field_types(ELinFormerConfig)
  check(
      name in hints,
      f"unknown model key {name!r}; ELinFormerConfig has {sorted(hints)}.",
  )
  return hints[name]
