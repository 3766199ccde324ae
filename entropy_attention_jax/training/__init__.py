"""Training, evaluation and prediction of the ELinFormer forecaster.

Typical use (what `python -m entropy_attention_jax train` runs)::

  from entropy_attention_jax import training

  config = training.get_config(
      "synthetic_traffic", overlays=["small"], overrides=["train.epochs=5"]
  )
  test_metrics = training.train(config, "/tmp/runs/demo")     # resumes if the run exists
  training.evaluate("/tmp/runs/demo")                         # W/test_metrics.json
  training.predict("/tmp/runs/demo", "/tmp/runs/demo/test_predictions.npz")
  loaded = training.load_model("/tmp/runs/demo")              # model, config, scaler, step

This namespace holds what a user calls; the parts of the loop (steps,
sharding, train state, checkpoints, metrics) stay importable from their
modules (`training.steps`, `training.sharding`, `training.state`, ...). See
docs/training.md.
"""

from entropy_attention_jax._optional import require as _require

# One clear line, naming the extra, when a library of this package is missing.
_require("optax", "train", "to train (entropy_attention_jax.training)")
_require(
    "orbax.checkpoint", "train",
    "for training checkpoints (entropy_attention_jax.training)", "orbax-checkpoint",
)
_require("tqdm", "train", "for training progress (entropy_attention_jax.training)")

from entropy_attention_jax.training.checkpoint import CheckpointError as CheckpointError
from entropy_attention_jax.training.config import DATASET_PRESETS as DATASET_PRESETS
from entropy_attention_jax.training.config import SIZE_OVERLAYS as SIZE_OVERLAYS
from entropy_attention_jax.training.config import ConfigError as ConfigError
from entropy_attention_jax.training.config import DataConfig as DataConfig
from entropy_attention_jax.training.config import ExperimentConfig as ExperimentConfig
from entropy_attention_jax.training.config import OptimConfig as OptimConfig
from entropy_attention_jax.training.config import TrainConfig as TrainConfig
from entropy_attention_jax.training.config import get_config as get_config
from entropy_attention_jax.training.config import with_overrides as with_overrides
from entropy_attention_jax.training.lock import WorkdirBusyError as WorkdirBusyError
from entropy_attention_jax.training.lock import WorkdirError as WorkdirError
from entropy_attention_jax.training.loop import Run as Run
from entropy_attention_jax.training.loop import evaluate as evaluate
from entropy_attention_jax.training.loop import forecast as forecast
from entropy_attention_jax.training.loop import forecast_to_file as forecast_to_file
from entropy_attention_jax.training.loop import load_data as load_data
from entropy_attention_jax.training.loop import open_run as open_run
from entropy_attention_jax.training.loop import predict as predict
from entropy_attention_jax.training.loop import train as train
from entropy_attention_jax.training.metrics_log import LogError as LogError
from entropy_attention_jax.training.metrics_log import read_metrics_log as read_metrics_log
from entropy_attention_jax.training.trained import LoadedModel as LoadedModel
from entropy_attention_jax.training.trained import load_model as load_model
from entropy_attention_jax.training.workdir import IncompatibleRunError as IncompatibleRunError

__all__ = [
    "DATASET_PRESETS",
    "SIZE_OVERLAYS",
    "CheckpointError",
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "IncompatibleRunError",
    "LoadedModel",
    "LogError",
    "OptimConfig",
    "Run",
    "TrainConfig",
    "WorkdirBusyError",
    "WorkdirError",
    "evaluate",
    "forecast",
    "forecast_to_file",
    "get_config",
    "load_data",
    "load_model",
    "open_run",
    "predict",
    "read_metrics_log",
    "train",
    "with_overrides",
]
