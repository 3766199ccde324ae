"""`get_config`: a dataset's preset, then size overlays, then overrides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from entropy_attention_jax.training.config.coercion import check
from entropy_attention_jax.training.config.overlays import SIZE_OVERLAYS
from entropy_attention_jax.training.config.overrides import with_overrides
from entropy_attention_jax.training.config.presets import dataset_preset
from entropy_attention_jax.training.config.schema import ExperimentConfig


def get_config(
    dataset: str,
    *,
    overlays: Sequence[str] = (),
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> ExperimentConfig:
  """The preset of `dataset`, then `overlays`, then `overrides`.

  Args:
    dataset: a dataset name; datasets without a preset of their own get the
      table preset (`presets.TABLE_PRESET`).
    overlays: size overlay names in :data:`~.overlays.SIZE_OVERLAYS`
      (``"small"``, ``"tiny"``), applied in order.
    overrides: see :func:`~.overrides.with_overrides`.

  Raises:
    ConfigError: unknown overlay, bad override.
  """
  config = dataset_preset(dataset)
  for name in overlays:
    check(
        name in SIZE_OVERLAYS,
        f"unknown preset {name!r} (a model size overlay); known: {sorted(SIZE_OVERLAYS)}.",
    )
    config = with_overrides(config, SIZE_OVERLAYS[name])
  return with_overrides(config, overrides)
