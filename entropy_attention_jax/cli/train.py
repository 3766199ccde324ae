"""`train`, `evaluate` and `predict`: the forecaster from the command line.

    python -m entropy_attention_jax train --dataset NAME --workdir W [--epochs N]
        [--spatial-attention KIND] [--temporal-attention KIND] [--preset small]
        [--set key=value ...] [--data-dir D] [--nodes N --days D --data-seed S]
    python -m entropy_attention_jax evaluate --workdir W [--checkpoint best|latest] [--split test]
    python -m entropy_attention_jax predict --workdir W --output P.npz [--split test]

The config is the dataset's preset, then each `--preset` overlay, then the
`--set` overrides, then the explicit flags (`--epochs`, `--*-attention`,
`--seed`, data options). `train` on a work directory that holds a run resumes
it. Bad input prints one `error: ...` line to stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from entropy_attention_jax.cli._guard import run_guarded
from entropy_attention_jax.cli.data import DATASET_FLAGS, DATASET_NAMES

# Dataset option flags of `train`: the data CLI's, with `seed` renamed so it
# does not read as the training seed.
_RENAMED = {"seed": "data_seed"}


def _train_overrides(args: argparse.Namespace) -> list[str]:
  """The explicit flags as `--set`-style overrides (applied last)."""
  overrides = list(args.overrides)
  flags = {
      "train.epochs": args.epochs, "train.seed": args.seed, "data.data_dir": args.data_dir,
      "data.manual_dir": args.manual_dir, "model.spatial_attention": args.spatial_attention,
      "model.temporal_attention": args.temporal_attention,
  }
  overrides += [f"{key}={value}" for key, value in flags.items() if value is not None]
  for name, _, _ in DATASET_FLAGS:
    value = getattr(args, _RENAMED.get(name, name))
    if value is not None:
      overrides.append(f"data.builder_options.{name}={value}")
  return overrides


def _run_guarded(command: Callable[[], Any]) -> int:
  """Runs `command`; a known or file-system error becomes one `error:` line and status 1."""
  return run_guarded(command)


def train_command(args: argparse.Namespace) -> int:
  if args.distributed:
    from entropy_attention_jax.training import sharding  # pylint: disable=g-import-not-at-top

    sharding.initialize_distributed()
  from entropy_attention_jax import training  # pylint: disable=g-import-not-at-top

  def command() -> None:
    config = training.get_config(
        args.dataset, overlays=args.presets, overrides=_train_overrides(args)
    )
    if args.print_config:
      import json  # pylint: disable=g-import-not-at-top

      print(json.dumps(config.to_dict(), indent=2))
      return
    training.train(
        config, args.workdir, evaluate_test=not args.skip_test,
        show_progress=False if args.no_progress else None, echo=print,
    )

  return _run_guarded(command)


def evaluate_command(args: argparse.Namespace) -> int:
  from entropy_attention_jax import training  # pylint: disable=g-import-not-at-top

  return _run_guarded(lambda: training.evaluate(
      args.workdir, checkpoint=args.checkpoint, split=args.split, data_dir=args.data_dir,
      echo=print,
  ))


def predict_command(args: argparse.Namespace) -> int:
  from entropy_attention_jax import training  # pylint: disable=g-import-not-at-top

  def command() -> None:
    path = training.predict(
        args.workdir, args.output, checkpoint=args.checkpoint, split=args.split,
        data_dir=args.data_dir,
    )
    print(f"wrote {args.split} predictions to {path}")

  return _run_guarded(command)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--workdir", required=True, help="the run's directory (train wrote it)")
  parser.add_argument(
      "--checkpoint", choices=("best", "latest"), default="best",
      help="the lowest-validation-MAE checkpoint (default) or the newest",
  )
  parser.add_argument("--split", choices=("test", "val", "train"), default="test")
  parser.add_argument("--data-dir", default=None, help="where the dataset is, if it moved")


def register(subparsers: argparse._SubParsersAction) -> None:
  """Adds `train`, `evaluate` and `predict`."""
  train = subparsers.add_parser(
      "train", help="train ELinFormer (resumes the run in --workdir if there is one)",
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  train.add_argument("--dataset", required=True, help="dataset: " + ", ".join(DATASET_NAMES))
  train.add_argument(
      "--workdir", required=True, help="directory of the run (config, checkpoints, logs)"
  )
  train.add_argument("--epochs", type=int, default=None, help="maximum epochs (train.epochs)")
  train.add_argument("--seed", type=int, default=None, help="training seed (train.seed)")
  train.add_argument(
      "--spatial-attention", default=None,
      help="attention across nodes: eala, softmax, linear, performer, taylor",
  )
  train.add_argument("--temporal-attention", default=None, help="attention along time (as above)")
  train.add_argument(
      "--preset", dest="presets", action="append", default=[], metavar="NAME",
      help="overlay on the dataset's preset: small (CPU-sized model), tiny (smoke tests)",
  )
  train.add_argument(
      "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
      help="override a config key, e.g. train.batch_size=32, optim.milestones=10,20,"
      " model.attention_options.estimator=gaussian_ensemble (repeatable)",
  )
  train.add_argument(
      "--data-dir", default=None,
      help="where datasets are built (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)",
  )
  train.add_argument("--manual-dir", default=None, help="where manual dataset files are")
  group = train.add_argument_group("dataset options")
  for name, kind, help_text in DATASET_FLAGS:
    dest = _RENAMED.get(name, name)
    flag = "--" + dest.replace("_", "-")
    group.add_argument(flag, dest=dest, type=kind, default=None, help=help_text)
  train.add_argument("--no-progress", action="store_true", help="no progress bars")
  train.add_argument("--skip-test", action="store_true", help="do not evaluate on the test split")
  train.add_argument(
      "--distributed", action="store_true",
      help="call jax.distributed.initialize() first (multi-host runs)",
  )
  train.add_argument("--print-config", action="store_true", help="print the config and exit")
  train.set_defaults(func=train_command)

  evaluate = subparsers.add_parser(
      "evaluate", help="masked MAE/RMSE/MAPE of a run; writes W/<split>_metrics.json",
  )
  _add_run_arguments(evaluate)
  evaluate.set_defaults(func=evaluate_command)

  predict = subparsers.add_parser("predict", help="write a split's forecasts and targets to .npz")
  _add_run_arguments(predict)
  predict.add_argument("--output", required=True, help="the .npz file to write")
  predict.set_defaults(func=predict_command)
