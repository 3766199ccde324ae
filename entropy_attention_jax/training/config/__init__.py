"""Typed configuration of a training run: schema, overrides, presets, overlays, resolution.

One concept per module, imported in this order (none imports a later one):

- :mod:`.coercion`: values and ``--set`` text converted to a field's type;
  `ConfigError`.
- :mod:`.schema`: the four sections (`DataConfig`, `OptimConfig`,
  `TrainConfig`, the `model` fields of `ELinFormerConfig`) in
  `ExperimentConfig`, with every field's type and default.
- :mod:`.overrides`: `with_overrides`, dotted ``section.key=value`` overrides.
- :mod:`.presets`: `DATASET_PRESETS`, each dataset's starting config as a
  table of overrides (STAEformer's published settings for the PeMS and
  METR-LA / PEMS-BAY benchmarks).
- :mod:`.overlays`: `SIZE_OVERLAYS`, named model sizes (``small``: a model
  that trains in minutes on a CPU; ``tiny``: seconds).
- :mod:`.compose`: `get_config`, preset then overlays then overrides::

    config = get_config("pems08", overrides=["train.epochs=50", "model.spatial_attention=eala"])
    config = get_config("synthetic_traffic", overlays=["small"],
                        overrides=["data.builder_options.nodes=30", "optim.milestones=10,20"])

- :mod:`.resolution`: `resolve`, what the data determines; `differences`.

The resolved config is what a run stores as ``W/config.json``;
`ExperimentConfig.from_dict` reads it back. Every name below stays importable
from `entropy_attention_jax.training.config` as before the split.
"""

from entropy_attention_jax.training.config.coercion import ConfigError as ConfigError
from entropy_attention_jax.training.config.compose import get_config as get_config
from entropy_attention_jax.training.config.overlays import OVERLAYS as OVERLAYS
from entropy_attention_jax.training.config.overlays import SIZE_OVERLAYS as SIZE_OVERLAYS
from entropy_attention_jax.training.config.overrides import with_overrides as with_overrides
from entropy_attention_jax.training.config.presets import DATASET_PRESETS as DATASET_PRESETS
from entropy_attention_jax.training.config.presets import PRESETS as PRESETS
from entropy_attention_jax.training.config.presets import TABLE_PRESET as TABLE_PRESET
from entropy_attention_jax.training.config.presets import dataset_preset as dataset_preset
from entropy_attention_jax.training.config.resolution import differences as differences
from entropy_attention_jax.training.config.resolution import resolve as resolve
from entropy_attention_jax.training.config.schema import (
    DATA_DERIVED_MODEL_FIELDS as DATA_DERIVED_MODEL_FIELDS,
)
from entropy_attention_jax.training.config.schema import OPTIMIZERS as OPTIMIZERS
from entropy_attention_jax.training.config.schema import RESUMABLE_CHANGES as RESUMABLE_CHANGES
from entropy_attention_jax.training.config.schema import SECTIONS as SECTIONS
from entropy_attention_jax.training.config.schema import DataConfig as DataConfig
from entropy_attention_jax.training.config.schema import ExperimentConfig as ExperimentConfig
from entropy_attention_jax.training.config.schema import OptimConfig as OptimConfig
from entropy_attention_jax.training.config.schema import TrainConfig as TrainConfig
from entropy_attention_jax.training.config.schema import default_data_dir as default_data_dir

__all__ = [
    "DATASET_PRESETS", "DATA_DERIVED_MODEL_FIELDS", "OPTIMIZERS", "OVERLAYS", "PRESETS",
    "RESUMABLE_CHANGES", "SECTIONS", "SIZE_OVERLAYS", "TABLE_PRESET", "ConfigError",
    "DataConfig", "ExperimentConfig", "OptimConfig", "TrainConfig", "dataset_preset",
    "default_data_dir", "differences", "get_config", "resolve", "with_overrides",
]
