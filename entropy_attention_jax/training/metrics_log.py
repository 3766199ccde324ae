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
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

from entropy_attention_jax.training.workdir import METRICS_LOG, TENSORBOARD_DIR

# Fields that are bookkeeping, not curves.
_NOT_SCALARS = frozenset({"kind", "step", "epoch", "time"})


class MetricsLog:
  """Appends records to ``metrics.jsonl`` and TensorBoard.

  Args:
    workdir: the run's directory.
    resume_bytes: size the log had at the checkpoint being resumed (0 for a
      fresh run); the file is cut back to it.
    resume_step: step of that checkpoint; TensorBoard hides older events at
      later steps.
    tensorboard: also write TensorBoard event files.
    enabled: False makes every method a no-op (the non-primary processes of
      a multi-host run, which share the primary's files).

  Raises:
    ValueError: the log is shorter than `resume_bytes` (it was edited or
      replaced since the checkpoint).
  """

  def __init__(
      self,
      workdir: pathlib.Path,
      *,
      resume_bytes: int = 0,
      resume_step: int = 0,
      tensorboard: bool = True,
      enabled: bool = True,
  ):
    self.path = workdir / METRICS_LOG
    self._file = self._writer = None
    if not enabled:
      return
    size = self.path.stat().st_size if self.path.exists() else 0
    if size < resume_bytes:
      raise ValueError(
          f"{self.path} has {size} bytes but the checkpoint being resumed was saved after"
          f" {resume_bytes}; the log was changed since. Restore it or train in a new --workdir."
      )
    self._file = open(self.path, "a+b")  # pylint: disable=consider-using-with
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

  def write(self, record: dict[str, Any]) -> None:
    """Appends one record (with `kind` and `step`) and flushes it."""
    if self._file is None:
      return
    line = json.dumps(record, allow_nan=True) + "\n"
    self._file.write(line.encode())
    self._file.flush()
    if self._writer is not None:
      for name, value in record.items():
        if name not in _NOT_SCALARS and isinstance(value, (int, float)) and math.isfinite(value):
          self._writer.add_scalar(f"{record['kind']}/{name}", value, record["step"])
      self._writer.flush()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
    if self._writer is not None:
      self._writer.close()


def read_metrics_log(workdir: str | pathlib.Path) -> list[dict[str, Any]]:
  """All records of a run's ``metrics.jsonl``."""
  path = pathlib.Path(workdir) / METRICS_LOG
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
