"""Files of a run's work directory, and the check that a resumed run matches.

::

  W/config.json         the resolved ExperimentConfig (data, model, optim, train)
  W/scaler.json         the z-score of the inputs, fit on the training inputs
  W/metrics.jsonl       one JSON object per log event (see metrics_log.py)
  W/tensorboard/        TensorBoard event files
  W/checkpoints/, W/best/   Orbax checkpoints (see checkpoint.py)
  W/test_metrics.json   written by evaluation
  W/.lock               who runs in W now (see lock.py)

A `train` command on a directory that already holds a run resumes it, but
only if its resolved configuration is the stored one up to the keys in
`config.RESUMABLE_CHANGES` (more epochs, another data directory, other
checkpoint or log intervals); anything else raises
:class:`IncompatibleRunError` listing the differences. A directory whose
checkpoints are gone but whose results are not (a non-empty
``metrics.jsonl``, ``*_metrics.json``) is refused too
(:func:`check_fresh_start`) rather than trained over from step 0.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

from entropy_attention_jax.data import StandardScaler
from entropy_attention_jax.training.config import (
    RESUMABLE_CHANGES,
    ConfigError,
    ExperimentConfig,
    differences,
)

CONFIG_FILE = "config.json"
SCALER_FILE = "scaler.json"
METRICS_LOG = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class IncompatibleRunError(ValueError):
  """The work directory holds a run that this command cannot continue or read."""


def _read_json(path: pathlib.Path) -> Any:
  try:
    return json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as error:
    raise IncompatibleRunError(f"cannot read {path}: {error}") from error


def _write_json(path: pathlib.Path, value: Any) -> None:
  """Writes `value` to `path` atomically (an OSError names `path`)."""
  temporary = path.with_suffix(path.suffix + ".tmp")
  try:
    temporary.write_text(json.dumps(value, indent=2) + "\n")
    temporary.replace(path)  # Atomic: a kill leaves the old or the new file.
  except OSError as error:
    raise OSError(error.errno, error.strerror, str(path)) from error


def check_fresh_start(workdir: pathlib.Path) -> None:
  """Checks that a directory without checkpoints holds no results to lose.

  A fresh run writes a step-0 checkpoint before its first log line (see
  loop.py), so a run killed at any moment leaves a checkpoint beside any
  log; results without one mean the checkpoints were removed.

  Raises:
    IncompatibleRunError: ``metrics.jsonl`` is not empty, or an evaluation's
      ``*_metrics.json`` is there.
  """
  log = workdir / METRICS_LOG
  found = []
  if log.is_file() and log.stat().st_size > 0:
    records = sum(1 for line in log.read_bytes().splitlines() if line.strip())
    found.append(f"{log} ({records} records)")
  found += sorted(str(path) for path in workdir.glob("*_metrics.json"))
  if found:
    raise IncompatibleRunError(
        f"{workdir} holds results of an earlier run ({', '.join(found)}) but no checkpoint in"
        f" {workdir / 'checkpoints'} or {workdir / 'best'}; refusing to train over them from"
        " step 0. Restore the checkpoints, move those files away to start afresh here, or"
        " train in a new --workdir."
    )


def load_config(workdir: str | pathlib.Path) -> ExperimentConfig:
  """The stored config of a run.

  Raises:
    IncompatibleRunError: no readable ``config.json`` in `workdir`.
  """
  path = pathlib.Path(workdir) / CONFIG_FILE
  if not path.is_file():
    raise IncompatibleRunError(
        f"{workdir} holds no training run: {CONFIG_FILE} is missing (train writes it)."
    )
  try:
    return ExperimentConfig.from_dict(_read_json(path))
  except ConfigError as error:
    raise IncompatibleRunError(f"{path} is not a valid run config: {error}") from error


def save_or_check_config(
    workdir: pathlib.Path, config: ExperimentConfig, *, write: bool = True
) -> None:
  """Stores `config`, or checks that it may continue the stored run.

  Keys in `RESUMABLE_CHANGES` may differ; the file then records the new
  values. With `write=False` only the check is made (`train` writes once
  every other check has passed, so a refused run changes nothing).

  Raises:
    IncompatibleRunError: another key differs (the message lists each one).
  """
  path = workdir / CONFIG_FILE
  if path.exists():
    stored = load_config(workdir)
    changed = differences(stored, config)
    blocking = [(key, old, new) for key, old, new in changed if key not in RESUMABLE_CHANGES]
    if blocking:
      lines = "; ".join(f"{key}: stored {old!r}, requested {new!r}" for key, old, new in blocking)
      raise IncompatibleRunError(
          f"{workdir} holds a run with another configuration ({lines}). Resume it with its"
          f" stored settings (see {path}) or train in a new --workdir."
      )
    if not changed:
      return
  if not write:
    return
  workdir.mkdir(parents=True, exist_ok=True)
  _write_json(path, config.to_dict())


def save_or_check_scaler(
    workdir: pathlib.Path, scaler: StandardScaler, *, write: bool = True
) -> None:
  """Stores the data's scaler, or checks it equals the stored one.

  With `write=False` only the check is made (the processes other than 0 of
  a multi-process run, which share process 0's directory).

  Raises:
    IncompatibleRunError: the data now gives another scaler (the dataset was
      rebuilt from other input).
  """
  path = workdir / SCALER_FILE
  if path.exists():
    stored = load_scaler(workdir)
    same = np.allclose(stored.mean, scaler.mean, rtol=1e-6) and np.allclose(
        stored.std, scaler.std, rtol=1e-6
    )
    if not same:
      raise IncompatibleRunError(
          f"{workdir}: the data's scaler (mean {scaler.mean.tolist()}, std"
          f" {scaler.std.tolist()}) differs from the run's ({stored.mean.tolist()},"
          f" {stored.std.tolist()} in {path}); the dataset changed since training."
      )
    return
  if not write:
    return
  workdir.mkdir(parents=True, exist_ok=True)
  _write_json(path, scaler.to_dict())


def load_scaler(workdir: str | pathlib.Path) -> StandardScaler:
  """The scaler stored with a run."""
  path = pathlib.Path(workdir) / SCALER_FILE
  if not path.is_file():
    raise IncompatibleRunError(f"{workdir}: {SCALER_FILE} is missing.")
  return StandardScaler.from_dict(_read_json(path))


def write_metrics(path: pathlib.Path, metrics: dict[str, Any]) -> None:
  """Writes evaluation metrics as JSON (atomically)."""
  _write_json(path, metrics)
