"""Training, evaluation and prediction of the ELinFormer forecaster.

Typical use (what `python -m entropy_attention_jax train` runs)::

  from entropy_attention_jax import training

  config = training.get_config(
      "synthetic_traffic", overlays=["small"], overrides=["train.epochs=5"]
  )
  test_metrics = training.train(config, "/tmp/runs/demo")     # resumes if the run exists
  training.evaluate("/tmp/runs/demo")                         # W/test_metrics.json
  training.predict("/tmp/runs/demo", "/tmp/runs/demo/test_predictions.npz")

See docs/training.md.
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
from entropy_attention_jax.training.checkpoint import RunCheckpoints as RunCheckpoints
from entropy_attention_jax.training.config import OVERLAYS as OVERLAYS
from entropy_attention_jax.training.config import PRESETS as PRESETS
from entropy_attention_jax.training.config import ConfigError as ConfigError
from entropy_attention_jax.training.config import DataConfig as DataConfig
from entropy_attention_jax.training.config import ExperimentConfig as ExperimentConfig
from entropy_attention_jax.training.config import OptimConfig as OptimConfig
from entropy_attention_jax.training.config import TrainConfig as TrainConfig
from entropy_attention_jax.training.config import get_config as get_config
from entropy_attention_jax.training.config import resolve as resolve
from entropy_attention_jax.training.config import with_overrides as with_overrides
from entropy_attention_jax.training.lock import WorkdirBusyError as WorkdirBusyError
from entropy_attention_jax.training.lock import WorkdirError as WorkdirError
from entropy_attention_jax.training.lock import WorkdirLock as WorkdirLock
from entropy_attention_jax.training.losses import forecasting_loss as forecasting_loss
from entropy_attention_jax.training.losses import target_mask as target_mask
from entropy_attention_jax.training.loop import Run as Run
from entropy_attention_jax.training.loop import build_run as build_run
from entropy_attention_jax.training.loop import evaluate as evaluate
from entropy_attention_jax.training.loop import evaluate_split as evaluate_split
from entropy_attention_jax.training.loop import forecast as forecast
from entropy_attention_jax.training.loop import forecast_to_file as forecast_to_file
from entropy_attention_jax.training.loop import load_data as load_data
from entropy_attention_jax.training.loop import open_run as open_run
from entropy_attention_jax.training.loop import predict as predict
from entropy_attention_jax.training.loop import train as train
from entropy_attention_jax.training.metrics import HORIZONS as HORIZONS
from entropy_attention_jax.training.metrics import ErrorSums as ErrorSums
from entropy_attention_jax.training.metrics import error_sums as error_sums
from entropy_attention_jax.training.metrics import format_table as format_table
from entropy_attention_jax.training.metrics import summarize as summarize
from entropy_attention_jax.training.metrics_log import LogError as LogError
from entropy_attention_jax.training.metrics_log import read_metrics_log as read_metrics_log
from entropy_attention_jax.training.optim import learning_rate_schedule as learning_rate_schedule
from entropy_attention_jax.training.optim import make_optimizer as make_optimizer
from entropy_attention_jax.training.sharding import data_mesh as data_mesh
from entropy_attention_jax.training.sharding import initialize_distributed as initialize_distributed
from entropy_attention_jax.training.sharding import pad_batch as pad_batch
from entropy_attention_jax.training.sharding import shard_batch as shard_batch
from entropy_attention_jax.training.state import Progress as Progress
from entropy_attention_jax.training.state import TrainState as TrainState
from entropy_attention_jax.training.state import init_train_state as init_train_state
from entropy_attention_jax.training.steps import jit_eval_step as jit_eval_step
from entropy_attention_jax.training.steps import jit_train_step as jit_train_step
from entropy_attention_jax.training.steps import make_eval_step as make_eval_step
from entropy_attention_jax.training.steps import make_predict_step as make_predict_step
from entropy_attention_jax.training.steps import make_train_step as make_train_step
from entropy_attention_jax.training.workdir import IncompatibleRunError as IncompatibleRunError

__all__ = [
    "HORIZONS",
    "OVERLAYS",
    "PRESETS",
    "CheckpointError",
    "ConfigError",
    "DataConfig",
    "ErrorSums",
    "ExperimentConfig",
    "IncompatibleRunError",
    "LogError",
    "OptimConfig",
    "Progress",
    "Run",
    "RunCheckpoints",
    "TrainConfig",
    "TrainState",
    "WorkdirBusyError",
    "WorkdirError",
    "WorkdirLock",
    "build_run",
    "data_mesh",
    "error_sums",
    "evaluate",
    "evaluate_split",
    "forecast",
    "forecast_to_file",
    "forecasting_loss",
    "format_table",
    "get_config",
    "init_train_state",
    "initialize_distributed",
    "jit_eval_step",
    "jit_train_step",
    "learning_rate_schedule",
    "load_data",
    "make_eval_step",
    "make_optimizer",
    "make_predict_step",
    "make_train_step",
    "open_run",
    "pad_batch",
    "predict",
    "read_metrics_log",
    "resolve",
    "shard_batch",
    "summarize",
    "target_mask",
    "train",
    "with_overrides",
]
