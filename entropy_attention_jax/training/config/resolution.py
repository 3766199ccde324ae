"""Resolution: what the data determines, filled into a config; and config differences.

`resolve(config, data)` is the config a run stores as ``W/config.json``:
the data directory made absolute, windows and scaling as the data has them,
and every `ELinFormerConfig` field in `model` (the data-derived sizes and
calendar channels included). `differences` compares a stored run with a
requested one (what `train` checks before resuming).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from entropy_attention_jax.models import ELinFormerConfig
from entropy_attention_jax.training.config.coercion import ConfigError
from entropy_attention_jax.training.config.schema import ExperimentConfig, default_data_dir

# Calendar embeddings and the data feature each one reads; an embedding whose
# feature the data's frequency lacks is switched off (see `resolve`).
_CALENDAR_EMBEDDINGS: dict[str, str] = {
    "tod_embedding_dim": "time_of_day", "dow_embedding_dim": "day_of_week",
    "moy_embedding_dim": "month_of_year",
}


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
