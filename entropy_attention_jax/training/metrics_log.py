"""The metrics log of a run: JSON lines a person can plot, and TensorBoard events.

Each record is one line of ``W/metrics.jsonl``::

  {"kind": "train", "step": 50, "epoch": 1, "train_loss": 31.2, "grad_norm": 40.1,
   "learning_rate": 0.001, "elapsed_s": 12.5, "time": 1764300000.0}
  {"kind": "val", "step": 150, "epoch": 1, "train_loss": 25.1, "val_mae": 20.3,
   "val_rmse": 31.0, "val_mape": 14.2, "best_val_mae": 20.3, "learning_rate": 0.001, ...}

(`pandas.read_json(path, lines=True)` reads it.) Numeric fields also go to
TensorBoard as ``<kind>/<name>`` scalars at `step`.

Exactly once across kills: every checkpoint stores the log's size when it
was saved, and a resumed run first cuts the log back to that size, so lines
written after the checkpoint (which the resumed run writes again) are not
repeated. TensorBoard events are handled the same way with `purge_step`.

The kept part is checked first: every line must be a JSON object with a
`kind` and a `step`, the part must end at a line break, and its SHA-256 must
be the one the checkpoint recorded (:attr:`MetricsLog.sha256`). A log edited
or damaged since (even bytes garbled in place) raises :class:`LogError`
naming the file and, where a line does not parse, the line.
"""

from __future__ import annotations

import hashlib
import json
import math
import pathlib
from typing import Any

from entropy_attention_jax.training.workdir import METRICS_LOG, TENSORBOARD_DIR

# Fields that are bookkeeping, not curves.
_NOT_SCALARS = frozenset({"kind", "step", "epoch", "time"})


class LogError(ValueError):
  """The metrics log differs from what the checkpoint being resumed recorded."""


def check_log_prefix(path: pathlib.Path, data: bytes, sha256: str = "") -> None:
  """Checks the part of a log that a resumed run keeps.

  Args:
    path: the log (for messages).
    data: its first `resume_bytes` bytes.
    sha256: their digest as the checkpoint recorded it ("" skips that check).

  Raises:
    LogError: a line is not a JSON record, the part ends inside a line, or
      the digest differs.
  """
  lines = data.split(b"\n")
  if lines[-1]:
    raise LogError(
        f"{path}: the checkpoint being resumed was saved after {len(data)} bytes, which ends"
        f" inside line {len(lines)}; the log was changed since. Restore it or train in a new"
        " --workdir."
    )
  for number, line in enumerate(lines[:-1], start=1):
    try:
      record = json.loads(line)
      valid = isinstance(record, dict) and "kind" in record and "step" in record
    except ValueError:  # UnicodeDecodeError and JSONDecodeError.
      valid = False
    if not valid:
      raise LogError(
          f"{path}: line {number} is not a valid log record (damaged or edited since the"
          " checkpoint being resumed); restore the file or train in a new --workdir."
      )
  if sha256 and hashlib.sha256(data).hexdigest() != sha256:
    raise LogError(
        f"{path}: its first {len(data)} bytes ({len(lines) - 1} lines) are not what the"
        " checkpoint being resumed recorded (SHA-256 differs): the log was edited since."
        " Restore it or train in a new --workdir."
    )


class MetricsLog:
  """Appends records to ``metrics.jsonl`` and TensorBoard.

  Args:
    workdir: the run's directory.
    resume_bytes: size the log had at the checkpoint being resumed (0 for a
      fresh run); the file is cut back to it.
    resume_step: step of that checkpoint; TensorBoard hides older events at
      later steps.
    resume_sha256: the checkpoint's digest of those bytes ("": not checked).
    tensorboard: also write TensorBoard event files.
    enabled: False makes every method a no-op (the non-primary processes of
      a multi-host run, which share the primary's files).

  Raises:
    LogError: the log is shorter than `resume_bytes`, or its first
      `resume_bytes` fail :func:`check_log_prefix` (it was edited, damaged or
      replaced since the checkpoint).
    OSError: the log cannot be opened (with its path).
  """

  def __init__(
      self,
      workdir: pathlib.Path,
      *,
      resume_bytes: int = 0,
      resume_step: int = 0,
      resume_sha256: str = "",
      tensorboard: bool = True,
      enabled: bool = True,
  ):
    self.path = workdir / METRICS_LOG
    self._file = self._writer = None
    self._digest = hashlib.sha256()
    self._failed = False
    if not enabled:
      return
    size = self.path.stat().st_size if self.path.exists() else 0
    if size < resume_bytes:
      raise LogError(
          f"{self.path} has {size} bytes but the checkpoint being resumed was saved after"
          f" {resume_bytes}; the log was changed since. Restore it or train in a new --workdir."
      )
    self._file = open(self.path, "a+b")  # pylint: disable=consider-using-with
    self._file.seek(0)
    kept = self._file.read(resume_bytes)
    try:
      check_log_prefix(self.path, kept, resume_sha256)
    except LogError:
      self._file.close()
      self._file = None
      raise
    self._digest.update(kept)
    self._file.truncate(resume_bytes)
    self._file.seek(resume_bytes)
    if tensorboard:
      import tensorboardX  # pylint: disable=g-import-not-at-top

      self._writer = tensorboardX.SummaryWriter(
          str(workdir / TENSORBOARD_DIR), purge_step=resume_step + 1
      )

  @property
  def size(self) -> int:
    """Bytes written so far (what a checkpoint records)."""
    return 0 if self._file is None else self._file.tell()

  @property
  def sha256(self) -> str:
    """SHA-256 (hex) of the :attr:`size` bytes written so far (what a checkpoint records)."""
    return self._digest.hexdigest()

  def write(self, record: dict[str, Any]) -> None:
    """Appends one record (with `kind` and `step`) and flushes it.

    Raises:
      OSError: the write failed (no space, ...), with the log's path.
    """
    if self._file is None:
      return
    line = (json.dumps(record, allow_nan=True) + "\n").encode()
    try:
      self._file.write(line)
      self._file.flush()
    except OSError as error:
      self._failed = True
      raise OSError(error.errno, error.strerror, str(self.path)) from error
    self._digest.update(line)
    if self._writer is not None:
      for name, value in record.items():
        if name not in _NOT_SCALARS and isinstance(value, (int, float)) and math.isfinite(value):
          self._writer.add_scalar(f"{record['kind']}/{name}", value, record["step"])
      self._writer.flush()

  def close(self) -> None:
    """Closes the files (after a failed write, without raising that failure again)."""
    try:
      if self._file is not None:
        self._file.close()
    except OSError:
      if not self._failed:
        raise
    finally:
      self._file = None
      if self._writer is not None:
        self._writer.close()
        self._writer = None


def read_metrics_log(workdir: str | pathlib.Path) -> list[dict[str, Any]]:
  """All records of a run's ``metrics.jsonl``."""
  path = pathlib.Path(workdir) / METRICS_LOG
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
