"""Typed configuration of a training run: sections, presets and overrides.

A run is configured by one :class:`ExperimentConfig` with four sections:

- ``data``: which dataset and how to cut it (:class:`DataConfig`);
- ``model``: :class:`~entropy_attention_jax.models.ELinFormerConfig` fields;
  the ones the data determines (nodes, steps, steps per day, channel
  positions) are filled in by :func:`resolve` and must not be set by hand;
- ``optim``: Optax optimiser and learning-rate schedule (:class:`OptimConfig`);
- ``train``: batch size, epochs, loss, early stopping, checkpoints
  (:class:`TrainConfig`).

:func:`get_config` starts from the preset of a dataset (STAEformer's published
settings for the PeMS and METR-LA / PEMS-BAY benchmarks; see "Configuration"
in docs/training.md), then applies named overlays (``"small"``: a model that
trains in minutes on a CPU) and ``key=value`` overrides with dotted keys, each
checked against the field's type::

  config = get_config("pems08", overrides=["train.epochs=50", "model.spatial_attention=eala"])
  config = get_config("synthetic_traffic", overlays=["small"],
                      overrides=["data.builder_options.nodes=30", "optim.milestones=10,20"])

The resolved config (:func:`resolve`) is what a run stores as
``W/config.json``; :func:`ExperimentConfig.from_dict` reads it back.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import pathlib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from entropy_attention_jax.models import ELinFormerConfig
from entropy_attention_jax.training.losses import LOSSES
from entropy_attention_jax.training.optim import OPTIMIZERS

SECTIONS: tuple[str, ...] = ("data", "model", "optim", "train")

# ELinFormerConfig fields that the data determines (see `resolve`).
DATA_DERIVED_MODEL_FIELDS: tuple[str, ...] = (
    "num_nodes", "in_steps", "out_steps", "steps_per_day",
    "time_of_day_channel", "day_of_week_channel", "month_of_year_channel", "future_dim",
)
# Calendar embeddings and the data feature each one reads; an embedding whose
# feature the data's frequency lacks is switched off (see `resolve`).
_CALENDAR_EMBEDDINGS: dict[str, str] = {
    "tod_embedding_dim": "time_of_day", "dow_embedding_dim": "day_of_week",
    "moy_embedding_dim": "month_of_year",
}

# Keys that may differ between a stored run and the command resuming it: they
# change neither the model, the data order nor any number the run computes.
RESUMABLE_CHANGES: frozenset[str] = frozenset({
    "data.data_dir", "data.manual_dir", "train.epochs",
    "train.checkpoint_every_steps", "train.log_every_steps",
    "train.max_steps", "train.max_minutes",
})


class ConfigError(ValueError):
  """A configuration key or value that cannot be used."""


def default_data_dir() -> str:
  """Where datasets are built when no directory is given: TFDS's convention."""
  return os.environ.get("TFDS_DATA_DIR") or str(pathlib.Path("~/tensorflow_datasets").expanduser())


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


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
    _check(bool(self.dataset), "data.dataset must be a dataset name, got an empty string.")
    _check(
        self.in_steps is None or self.in_steps >= 1,
        f"data.in_steps must be >= 1 (or none), got {self.in_steps}.",
    )
    _check(
        self.out_steps is None or self.out_steps >= 1,
        f"data.out_steps must be >= 1 (or none), got {self.out_steps}.",
    )
    _check(
        self.scaling in (None, "global", "per_node"),
        f"data.scaling must be global, per_node or none, got {self.scaling!r}.",
    )
    _check(
        self.split_ratios is None or len(self.split_ratios) == 3,
        f"data.split_ratios must be three fractions (train, val, test), got {self.split_ratios}.",
    )
    _check(bool(self.input_channels), "data.input_channels must name at least the target, 0.")
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
    _check(
        self.optimizer in OPTIMIZERS,
        f"optim.optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}.",
    )
    _check(self.learning_rate > 0, f"optim.learning_rate must be > 0, got {self.learning_rate}.")
    _check(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}.")
    _check(
        all(m >= 1 for m in self.milestones)
        and all(a < b for a, b in zip(self.milestones, self.milestones[1:])),
        f"optim.milestones must be increasing epochs >= 1, got {list(self.milestones)}.",
    )
    _check(self.decay_rate > 0, f"optim.decay_rate must be > 0, got {self.decay_rate}.")
    _check(
        self.clip_grad_norm >= 0,
        f"optim.clip_grad_norm must be >= 0, got {self.clip_grad_norm}.",
    )
    _check(
        0 <= self.b1 < 1 and 0 <= self.b2 < 1,
        f"optim.b1, b2 must be in [0, 1), got {self.b1}, {self.b2}.",
    )
    _check(self.eps > 0, f"optim.eps must be > 0, got {self.eps}.")


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
    _check(self.epochs >= 1, f"train.epochs must be >= 1, got {self.epochs}.")
    _check(self.batch_size >= 1, f"train.batch_size must be >= 1, got {self.batch_size}.")
    _check(
        self.eval_batch_size is None or self.eval_batch_size >= 1,
        f"train.eval_batch_size must be >= 1 or None, got {self.eval_batch_size}.",
    )
    _check(self.seed >= 0, f"train.seed must be >= 0, got {self.seed}.")
    _check(self.loss in LOSSES, f"train.loss must be one of {list(LOSSES)}, got {self.loss!r}.")
    _check(self.huber_delta > 0, f"train.huber_delta must be > 0, got {self.huber_delta}.")
    _check(self.patience >= 0, f"train.patience must be >= 0, got {self.patience}.")
    _check(
        self.checkpoint_every_steps >= 0,
        f"train.checkpoint_every_steps must be >= 0, got {self.checkpoint_every_steps}.",
    )
    _check(
        self.log_every_steps >= 1,
        f"train.log_every_steps must be >= 1, got {self.log_every_steps}.",
    )
    _check(self.max_steps >= 0, f"train.max_steps must be >= 0, got {self.max_steps}.")
    _check(self.max_minutes >= 0, f"train.max_minutes must be >= 0, got {self.max_minutes}.")

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
      model[name] = _coerce(value, _model_field_type(name), f"model.{name}")
    object.__setattr__(self, "model", model)

  def to_dict(self) -> dict[str, Any]:
    """JSON-ready nested dict (tuples become lists)."""
    return json.loads(json.dumps({
        "data": dataclasses.asdict(self.data),
        "model": {name: _plain(value) for name, value in self.model.items()},
        "optim": dataclasses.asdict(self.optim),
        "train": dataclasses.asdict(self.train),
    }))

  @classmethod
  def from_dict(cls, fields: Mapping[str, Any]) -> ExperimentConfig:
    """Inverse of :meth:`to_dict`; unknown sections or keys raise `ConfigError`."""
    unknown = sorted(set(fields) - set(SECTIONS))
    _check(not unknown, f"unknown config sections {unknown}; expected {list(SECTIONS)}.")
    sections = {}
    for name in ("data", "optim", "train"):
      section_type = _SECTION_TYPES[name]
      values = dict(fields.get(name, {}))
      hints = _type_hints(section_type)
      bad = sorted(set(values) - set(hints))
      _check(not bad, f"unknown keys {[f'{name}.{k}' for k in bad]}; {name} has {sorted(hints)}.")
      sections[name] = section_type(
          **{key: _coerce(value, hints[key], f"{name}.{key}") for key, value in values.items()}
      )
    return cls(model=dict(fields.get("model", {})), **sections)

  def flat(self) -> dict[str, Any]:
    """`{"section.key": value}` for every key (model options stay mappings)."""
    return {
        f"{section}.{key}": value
        for section, values in self.to_dict().items()
        for key, value in values.items()
    }


_SECTION_TYPES: dict[str, type] = {"data": DataConfig, "optim": OptimConfig, "train": TrainConfig}


def _plain(value: Any) -> Any:
  if isinstance(value, Mapping):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (tuple, list)):
    return [_plain(v) for v in value]
  return value


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
  return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


def _model_field_type(name: str) -> Any:
  hints = _type_hints(ELinFormerConfig)
  _check(
      name in hints,
      f"unknown model key {name!r}; ELinFormerConfig has {sorted(hints)}.",
  )
  return hints[name]


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _parse_literal(text: str) -> Any:
  """A JSON literal (number, bool, null, list, object), or else the text itself."""
  lowered = text.strip().lower()
  if lowered in ("none", "null"):
    return None
  if lowered in ("true", "false"):
    return lowered == "true"
  try:
    return json.loads(text)
  except json.JSONDecodeError:
    return text


def _coerce(value: Any, hint: Any, key: str) -> Any:
  """`value` (or the text of one) converted to the type `hint`.

  Raises:
    ConfigError: naming `key`, when the value does not fit the type.
  """
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  fail = ConfigError(f"{key} must be {_describe(hint)}, got {value!r}.")
  if hint is Any:
    return _parse_literal(value) if isinstance(value, str) else value
  if origin in (typing.Union, types.UnionType):
    if type(None) in args and (
        value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null"))
    ):
      return None
    for option in args:
      if option is not type(None):
        try:
          return _coerce(value, option, key)
        except ConfigError:
          pass
    raise fail
  if hint is bool:
    if isinstance(value, bool):
      return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
      return value.strip().lower() in _TRUE
    raise fail
  if hint is int:
    if isinstance(value, str):
      try:
        return int(value.strip())
      except ValueError:
        raise fail from None
    if isinstance(value, bool) or not isinstance(value, int):
      raise fail
    return value
  if hint is float:
    if isinstance(value, str):
      try:
        value = float(value.strip())
      except ValueError:
        raise fail from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
      raise fail
    return float(value)
  if hint is str:
    if not isinstance(value, str):
      raise fail
    return value
  if origin is tuple:
    if isinstance(value, str):
      text = value.strip()
      if text.startswith("["):
        value = _parse_literal(text)
      else:
        value = [part for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
      raise fail
    item_types = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
    if len(item_types) != len(value):
      raise fail
    return tuple(_coerce(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, item_types)))
  if origin in (Mapping, dict) or hint in (Mapping, dict):
    if isinstance(value, str):
      value = _parse_literal(value)
    if not isinstance(value, Mapping):
      raise fail
    return {str(k): _plain(v) for k, v in value.items()}
  raise ConfigError(f"{key}: unsupported type {hint!r}.")  # A new field type needs a case here.


def _describe(hint: Any) -> str:
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin in (typing.Union, types.UnionType):
    return " or ".join("None" if a is type(None) else _describe(a) for a in args)
  if origin is tuple:
    return f"a comma-separated list of {_describe(args[0])}"
  if origin in (Mapping, dict) or hint in (Mapping, dict):
    return "a JSON object"
  return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
      hint, str(hint)
  )


def with_overrides(
    config: ExperimentConfig, overrides: Sequence[str] | Mapping[str, Any]
) -> ExperimentConfig:
  """`config` with dotted-key overrides applied, each type-checked.

  Args:
    config: the starting config.
    overrides: ``"section.key=value"`` strings (values parsed for the key's
      type: ``train.epochs=5``, ``optim.milestones=10,20``,
      ``model.dtype=none``) or a `{"section.key": value}` mapping. A key one
      level into a mapping field sets one entry
      (``model.attention_options.estimator=gaussian_ensemble``,
      ``data.builder_options.nodes=30``; values parsed as JSON literals).

  Returns:
    A new `ExperimentConfig`.

  Raises:
    ConfigError: a malformed override, unknown key, wrong type, or a model
      key the data determines.
  """
  if isinstance(overrides, Mapping):
    items = list(overrides.items())
  else:
    items = []
    for text in overrides:
      key, sep, value = text.partition("=")
      _check(bool(sep) and bool(key.strip()), f"an override must be key=value, got {text!r}.")
      items.append((key.strip(), value))
  sections = {
      "data": dataclasses.asdict(config.data), "model": dict(config.model),
      "optim": dataclasses.asdict(config.optim), "train": dataclasses.asdict(config.train),
  }
  for key, value in items:
    section, *path = key.split(".")
    _check(
        section in SECTIONS and 1 <= len(path) <= 2,
        f"override key {key!r} must be section.key or section.key.entry with a section in"
        f" {list(SECTIONS)}.",
    )
    name = path[0]
    if section == "model":
      _check(
          name not in DATA_DERIVED_MODEL_FIELDS,
          f"model.{name} is set from the data; set data.in_steps, data.out_steps or the"
          " dataset instead.",
      )
      hint = _model_field_type(name)
    else:
      hints = _type_hints(_SECTION_TYPES[section])
      _check(name in hints, f"unknown key {section}.{name}; {section} has {sorted(hints)}.")
      hint = hints[name]
    if len(path) == 2:
      _check(
          typing.get_origin(hint) in (Mapping, dict),
          f"{section}.{name} is not a mapping; {key!r} cannot set an entry of it.",
      )
      entry = _parse_literal(value) if isinstance(value, str) else value
      sections[section][name] = {**(sections[section].get(name) or {}), path[1]: entry}
    else:
      sections[section][name] = _coerce(value, hint, f"{section}.{name}")
  return ExperimentConfig.from_dict(sections)


# STAEformer's published settings (github.com/XDZhelheim/STAEformer,
# model/STAEformer.yaml and model/train.py): Adam lr 1e-3 with L2 weight
# decay, x0.1 at the milestones, batch 16, Huber loss on PeMS and masked MAE
# on METR-LA / PEMS-BAY, and the raw time features fed to the input
# projection too (input_dim 3).
_STAEFORMER: dict[str, dict[str, Any]] = {
    "pems03": {"weight_decay": 5e-4, "milestones": (15, 30, 40), "patience": 20, "epochs": 300},
    "pems04": {"weight_decay": 5e-4, "milestones": (15, 30, 50), "patience": 20, "epochs": 300},
    "pems07": {"weight_decay": 1e-3, "milestones": (15, 35, 50), "patience": 20, "epochs": 300},
    "pems08": {"weight_decay": 1.5e-3, "milestones": (25, 45, 65), "patience": 30, "epochs": 300},
    "metr_la": {"weight_decay": 3e-4, "milestones": (20, 30), "patience": 30, "epochs": 200},
    "pems_bay": {"weight_decay": 1e-4, "milestones": (10, 30), "patience": 20, "epochs": 300},
}


def _staeformer_preset(dataset: str) -> ExperimentConfig:
  facts = _STAEFORMER[dataset]
  masked_mae = dataset in ("metr_la", "pems_bay")
  return ExperimentConfig(
      data=DataConfig(dataset=dataset, in_steps=12, out_steps=12),
      model={"input_dim": 3},
      optim=OptimConfig(
          optimizer="adam", learning_rate=1e-3, weight_decay=facts["weight_decay"],
          milestones=facts["milestones"], decay_rate=0.1,
      ),
      train=TrainConfig(
          epochs=facts["epochs"], batch_size=16, patience=facts["patience"],
          loss="mae" if masked_mae else "huber", mask_zeros=masked_mae,
      ),
  )


def _traffic_preset(dataset: str, **builder_options: Any) -> ExperimentConfig:
  # PeMS-like defaults (12 -> 12 steps, Huber, L2 5e-4) for the synthetic
  # traffic; zero readings are masked from the loss.
  return ExperimentConfig(
      data=DataConfig(dataset=dataset, in_steps=12, out_steps=12, builder_options=builder_options),
      optim=OptimConfig(weight_decay=5e-4, milestones=(15, 30, 50)),
      train=TrainConfig(epochs=100, patience=20),
  )


def _table_preset(dataset: str, **builder_options: Any) -> ExperimentConfig:
  # Anyone's table: windows from the frequency, per-series scaling (the
  # dataset's default), forecasts relative to the last observed value and the
  # window's own scale (chosen on validation MAE in experiments/real_data.py),
  # a shorter patience and schedule than the traffic benchmarks'.
  return ExperimentConfig(
      data=DataConfig(dataset=dataset, builder_options=builder_options),
      model={"window_normalization": "window_scale"},
      optim=OptimConfig(weight_decay=1e-4, milestones=(20, 40)),
      train=TrainConfig(epochs=60, patience=10),
  )


PRESETS: dict[str, Any] = {
    **{name: functools.partial(_staeformer_preset, name) for name in _STAEFORMER},
    # Explicit options: the stored config then names the data exactly (with
    # none, the data layer would read whichever single config is built).
    "synthetic_traffic": functools.partial(
        _traffic_preset, "synthetic_traffic", nodes=20, days=14, seed=0
    ),
    "chicago_ridership": functools.partial(_table_preset, "chicago_ridership"),
    "wide_table": functools.partial(_table_preset, "wide_table"),
}

# Named groups of overrides applied on top of a preset (`--preset NAME`).
OVERLAYS: dict[str, dict[str, Any]] = {
    # A 64-wide, 2 + 2 layer ELinFormer (~1/4 of STAEformer's width): minutes
    # per run on a 2-core CPU instead of hours.
    "small": {
        "model.input_embedding_dim": 16, "model.tod_embedding_dim": 16,
        "model.dow_embedding_dim": 8, "model.adaptive_embedding_dim": 24,
        "model.feed_forward_dim": 128, "model.num_temporal_layers": 2,
        "model.num_spatial_layers": 2,
    },
    # Seconds per run: smoke tests and CI.
    "tiny": {
        "model.input_embedding_dim": 8, "model.tod_embedding_dim": 4,
        "model.dow_embedding_dim": 4, "model.adaptive_embedding_dim": 0,
        "model.feed_forward_dim": 16, "model.num_heads": 2,
        "model.num_temporal_layers": 1, "model.num_spatial_layers": 1,
    },
}


def get_config(
    dataset: str,
    *,
    overlays: Sequence[str] = (),
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> ExperimentConfig:
  """The preset of `dataset`, then `overlays`, then `overrides`.

  Args:
    dataset: a dataset name; datasets without a preset of their own (none so
      far) would get the generic one.
    overlays: names in :data:`OVERLAYS`, applied in order.
    overrides: see :func:`with_overrides`.

  Raises:
    ConfigError: unknown overlay, bad override.
  """
  config = PRESETS[dataset]() if dataset in PRESETS else _table_preset(dataset)
  for name in overlays:
    _check(name in OVERLAYS, f"unknown preset {name!r}; known: {sorted(OVERLAYS)}.")
    config = with_overrides(config, OVERLAYS[name])
  return with_overrides(config, overrides)


def resolve(config: ExperimentConfig, data: Any) -> ExperimentConfig:
  """Fills in what the data determines: the data directory and the model's sizes.

  Args:
    config: a config whose `model` section holds only free fields.
    data: the `ForecastingData` loaded for `config.data`.

  Returns:
    The config with `data.data_dir` set and every `ELinFormerConfig` field in
    `model`; `ELinFormerConfig.from_dict(resolved.model)` builds the model.

  Raises:
    ConfigError: a data-derived model field set to another value than the
      data's, or a model config that `ELinFormerConfig` rejects.
  """
  derived = {
      "num_nodes": data.num_nodes, "in_steps": data.in_steps, "out_steps": data.out_steps,
      "steps_per_day": data.steps_per_day,
      "time_of_day_channel": data.time_of_day_index or 0,
      "day_of_week_channel": data.day_of_week_index or 0,
      "month_of_year_channel": data.month_of_year_index or 0,
      "future_dim": data.num_future,
  }
  for name, value in derived.items():
    if name in config.model and config.model[name] != value:
      raise ConfigError(
          f"model.{name}={config.model[name]} does not match the data ({name}={value})."
      )
  fields = {**derived, "input_dim": data.num_input_channels, **config.model}
  # Calendar embeddings follow the frequency: off where the data has no such
  # feature; month of year (when it has one) as wide as the day of week.
  model_defaults = {f.name: f.default for f in dataclasses.fields(ELinFormerConfig)}
  if "month_of_year" in data.calendar_features and "moy_embedding_dim" not in config.model:
    fields["moy_embedding_dim"] = fields.get("dow_embedding_dim", model_defaults["dow_embedding_dim"])
  for embedding, feature in _CALENDAR_EMBEDDINGS.items():
    if feature not in data.calendar_features:
      fields[embedding] = 0
  try:
    model = ELinFormerConfig(**fields)
  except (TypeError, ValueError) as error:
    raise ConfigError(f"model: {error}") from error
  data_dir = config.data.data_dir or default_data_dir()
  # Reading options the build was made with and the command left out (e.g.
  # the covariates of `data build`): recorded, so the run names its data fully.
  built_with = data.info.extra.get("read_options") or {}
  builder_options = {
      **{k: v for k, v in built_with.items() if v not in (None, "")},
      **config.data.builder_options,
  }
  return dataclasses.replace(
      config,
      data=dataclasses.replace(
          config.data, data_dir=str(pathlib.Path(data_dir).absolute()),
          in_steps=data.in_steps, out_steps=data.out_steps, scaling=data.scaling,
          builder_options=builder_options,
      ),
      model=model.to_dict(),
  )


def differences(
    stored: ExperimentConfig, requested: ExperimentConfig
) -> list[tuple[str, Any, Any]]:
  """`(key, stored value, requested value)` for every key that differs."""
  a, b = stored.flat(), requested.flat()
  keys = sorted(set(a) | set(b))
  return [(key, a.get(key), b.get(key)) for key in keys if a.get(key) != b.get(key)]
