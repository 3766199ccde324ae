"""`train`, `evaluate` and `predict`: the forecaster from the command line.

    python -m entropy_attention_jax train --dataset NAME --workdir W [--epochs N]
        [--spatial-attention KIND] [--temporal-attention KIND] [--size small]
        [--set key=value ...] [--data-dir D] [--nodes N --days D --data-seed S]
    python -m entropy_attention_jax evaluate --workdir W [--checkpoint best|latest] [--split test]
    python -m entropy_attention_jax predict --workdir W --output P.csv|P.parquet|P.npz [--split test]
        [--plot F.png --plot-nodes a,b]
    python -m entropy_attention_jax forecast --workdir W --output F.csv|F.parquet [--file NEW.csv]
        [--checkpoint best|latest] [--plot F.png --plot-nodes a,b]

The config is the dataset's preset, then each `--size` overlay (`--preset`,
its former name, still works), then the `--set` overrides, then the explicit
flags (`--epochs`, `--*-attention`, `--seed`, data options). `train` on a work directory that holds a run resumes
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
      "train.max_steps": args.max_steps, "train.max_minutes": args.max_minutes,
      "data.in_steps": args.in_steps, "data.out_steps": args.out_steps,
      "data.scaling": args.scaling,
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

      import contextlib  # pylint: disable=g-import-not-at-top

      # Validated as training would: the data is read and the model resolved.
      # A build's messages go to stderr, so stdout is the JSON alone.
      with contextlib.redirect_stdout(sys.stderr):
        resolved = training.config.resolve(config, training.load_data(config.data))
      print(json.dumps(resolved.to_dict(), indent=2))
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


def _plot_nodes(args: argparse.Namespace) -> list[str]:
  return [n.strip() for n in (args.plot_nodes or "").split(",") if n.strip()]


def predict_command(args: argparse.Namespace) -> int:
  from entropy_attention_jax import training  # pylint: disable=g-import-not-at-top

  def command() -> None:
    path = training.predict(
        args.workdir, args.output, checkpoint=args.checkpoint, split=args.split,
        data_dir=args.data_dir, plot=args.plot, plot_nodes=_plot_nodes(args),
    )
    print(f"wrote {args.split} predictions to {path}")
    if args.plot:
      print(f"drew {args.plot}")

  return _run_guarded(command)


def forecast_command(args: argparse.Namespace) -> int:
  from entropy_attention_jax import training  # pylint: disable=g-import-not-at-top

  def command() -> None:
    path = training.forecast_to_file(
        args.workdir, args.output, checkpoint=args.checkpoint, data_dir=args.data_dir,
        file=args.file, plot=args.plot, plot_nodes=_plot_nodes(args),
    )
    print(f"wrote the forecast to {path}")
    if args.plot:
      print(f"drew {args.plot}")

  return _run_guarded(command)


def _add_plot_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--plot", default=None, help="also draw a few nodes into this image (PNG)")
  parser.add_argument(
      "--plot-nodes", default=None, help="comma-separated node ids to draw (default: first four)"
  )


def _add_run_arguments(parser: argparse.ArgumentParser, *, split: bool = True) -> None:
  parser.add_argument("--workdir", required=True, help="the run's directory (train wrote it)")
  parser.add_argument(
      "--checkpoint", choices=("best", "latest"), default="best",
      help="the lowest-validation-MAE checkpoint (default) or the newest",
  )
  if split:
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
  # Read from the kind records; ELinFormerConfig checks the name (one message).
  from entropy_attention_jax.attention.kinds import KINDS  # pylint: disable=g-import-not-at-top

  train.add_argument(
      "--spatial-attention", default=None, help="attention across nodes: " + ", ".join(KINDS),
  )
  train.add_argument("--temporal-attention", default=None, help="attention along time (as above)")
  train.add_argument(
      "--size", "--preset", dest="presets", action="append", default=[], metavar="NAME",
      help="model size overlay on the dataset's preset: small (CPU-sized model), tiny (smoke"
      " tests); --preset is its former name (repeatable)",
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
  train.add_argument(
      "--in-steps", type=int, default=None,
      help="input steps per window (data.in_steps; default: the frequency's)",
  )
  train.add_argument(
      "--out-steps", type=int, default=None,
      help="forecast steps (data.out_steps; default: the frequency's)",
  )
  train.add_argument(
      "--scaling", choices=("global", "per_node"), default=None,
      help="z-score per channel (global) or per series (per_node); default: the dataset's",
  )
  train.add_argument(
      "--max-steps", type=int, default=None,
      help="stop after this many training steps in all (train.max_steps; resumable)",
  )
  train.add_argument(
      "--max-minutes", type=float, default=None,
      help="stop this session after this many minutes (train.max_minutes; resumable)",
  )
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

  predict = subparsers.add_parser(
      "predict", help="write a split's forecasts and targets (.csv, .parquet or .npz)"
  )
  _add_run_arguments(predict)
  predict.add_argument("--output", required=True, help="the .csv, .parquet or .npz file to write")
  _add_plot_arguments(predict)
  predict.set_defaults(func=predict_command)

  forecast = subparsers.add_parser(
      "forecast", help="forecast the steps after the table's last row (.csv or .parquet)"
  )
  _add_run_arguments(forecast, split=False)
  forecast.add_argument(
      "--file", default=None,
      help="a newer table with the same columns to forecast from (wide_table runs)",
  )
  forecast.add_argument("--output", required=True, help="the .csv or .parquet file to write")
  _add_plot_arguments(forecast)
  forecast.set_defaults(func=forecast_command)
