"""Orbax checkpoints of a run: the latest states and the best model.

Layout under the work directory ``W``::

  W/checkpoints/<step>/state      TrainState (params, fixed, optimiser, step, key)
  W/checkpoints/<step>/progress   Progress as JSON (epoch, batch, early stopping, ...)
  W/best/<step>/model             {"params", "fixed"} of the lowest validation MAE
  W/best/<step>/progress          Progress when it was reached

`W/checkpoints` keeps the two newest steps (written every N steps and at
each epoch end), `W/best` one. Orbax writes a step into a temporary
directory and renames it when complete, so a run killed while saving leaves
the previous steps intact. A step that exists but cannot be read (corrupt or
truncated files, or a state of another shape) raises :class:`CheckpointError`
naming the directory; nothing silently starts over. A save that fails (a
full disk, a read-only directory) raises :class:`CheckpointError` too, at
the latest when the next save starts or the checkpoints are closed. Either
message is one line: Orbax's and TensorStore's multi-line details are cut to
their first line.

Latest saves are asynchronous; the best model is saved synchronously, so a
latest checkpoint never records a best model that is not yet on disk.
"""

from __future__ import annotations

import pathlib
import re
import sys
from typing import Any

import jax
import orbax.checkpoint as ocp

from entropy_attention_jax.training.state import Progress, TrainState
from entropy_attention_jax.training.workdir import check_fresh_start

LATEST_DIR = "checkpoints"
BEST_DIR = "best"
CHECKPOINT_KINDS: tuple[str, ...] = ("best", "latest")


class CheckpointError(RuntimeError):
  """A checkpoint that exists but cannot be restored, or one that cannot be written."""


# Operating-system reasons that TensorStore embeds in its messages.
_OS_REASONS = ("No space left on device", "Read-only file system", "Permission denied",
               "Disk quota exceeded")


def error_summary(error: BaseException, limit: int = 300) -> str:
  """One line of an Orbax / TensorStore error.

  A file-system reason in the text gives ``"<reason> (writing <file>)"``;
  otherwise the first line, without TensorStore's spec dump, at most
  `limit` characters.
  """
  full = str(error)
  for reason in _OS_REASONS:
    if reason in full:
      paths = re.findall(r'local file "([^"]+)"', full)
      return f"{reason} (writing {paths[0]})" if paths else reason
  lines = full.strip().splitlines()
  text = lines[0] if lines else type(error).__name__
  text = re.split(r"\s*See full TensorStore details", text)[0].rstrip(". ")
  return text if len(text) <= limit else text[: limit - 3] + "..."


def _from_orbax(unraisable) -> bool:
  """Whether an unraisable exception comes from an Orbax coroutine or frame."""
  code = getattr(unraisable.object, "cr_code", None)
  if code is not None and _ORBAX_DIR in code.co_filename:
    return True
  traceback = unraisable.exc_traceback
  while traceback is not None:
    if _ORBAX_DIR in traceback.tb_frame.f_code.co_filename:
      return True
    traceback = traceback.tb_next
  return False


_ORBAX_DIR = str(pathlib.Path(ocp.__file__).resolve().parents[1])


def _orphaned_read_hook(previous):
  """An unraisable hook that drops the leftovers of the reads a failed restore abandoned.

  When one array of a checkpoint cannot be read, Orbax stops its restore and
  closes the event loop it ran on while TensorStore still completes the
  other reads: each completion then calls ``call_soon_threadsafe`` on the
  closed loop (``RuntimeError: Event loop is closed``), and the abandoned
  read coroutines raise their own read errors when they are collected
  ("Exception ignored in: <coroutine object _read_array_index_and_device_put>").
  Python prints each as an unraisable exception, with a traceback, long
  after the :class:`CheckpointError` was raised. Those, and only those, are
  dropped.
  """

  def hook(unraisable):
    value = unraisable.exc_value
    if isinstance(value, RuntimeError) and str(value) == "Event loop is closed":
      return
    if _from_orbax(unraisable):
      return
    previous(unraisable)

  hook.drops_orphaned_reads = True
  return hook


def quiet_orphaned_reads() -> None:
  """Installs :func:`_orphaned_read_hook` as `sys.unraisablehook` (once)."""
  if not getattr(sys.unraisablehook, "drops_orphaned_reads", False):
    sys.unraisablehook = _orphaned_read_hook(sys.unraisablehook)


def _abstract(tree: Any) -> Any:
  """Shapes, dtypes and shardings of `tree`'s arrays, to restore into."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class RunCheckpoints:
  """The latest and best checkpoints of one work directory.

  Args:
    workdir: the run's directory.
    create: create the checkpoint directories (training); False for
      read-only use (evaluation), which requires them to exist when read.
    keep_latest: number of latest steps kept.
  """

  def __init__(self, workdir: str | pathlib.Path, *, create: bool = True, keep_latest: int = 2):
    self.workdir = pathlib.Path(workdir).absolute()
    # Directories the managers create: removed again if a refusal leaves them empty.
    self._created = [self.workdir / d for d in (LATEST_DIR, BEST_DIR)
                     if create and not (self.workdir / d).exists()]
    self._keep_latest = keep_latest
    self._latest = self._manager(LATEST_DIR, ("state", "progress"), keep_latest, create)
    self._best = self._manager(BEST_DIR, ("model", "progress"), 1, create)

  def _manager(self, name: str, items: tuple[str, ...], keep: int, create: bool):
    directory = self.workdir / name
    if not create and not directory.is_dir():
      return None
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=create)
    return ocp.CheckpointManager(directory, options=options, item_names=items)

  def __enter__(self) -> RunCheckpoints:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  @property
  def latest_step(self) -> int | None:
    """Newest complete step in ``W/checkpoints``, or None."""
    return None if self._latest is None else self._latest.latest_step()

  @property
  def best_step(self) -> int | None:
    """Step of the best model in ``W/best``, or None."""
    return None if self._best is None else self._best.latest_step()

  def _write_error(self, manager, which: str, error: Exception, step: int | None):
    at = f" (saving step {step})" if step is not None else ""
    return CheckpointError(
        f"cannot write the {which} checkpoint in {manager.directory}{at}:"
        f" {error_summary(error)}. Nothing complete was lost: make the directory writable"
        " or free space, then run the same command to resume from the last complete"
        " checkpoint."
    )

  def _save(self, manager, which: str, step: int, args: ocp.args.Composite) -> None:
    try:
      manager.save(step, args=args)  # Also raises the previous save's failure.
    except Exception as error:  # Orbax and TensorStore raise ValueError, OSError, ...
      raise self._write_error(manager, which, error, step) from error

  def save_latest(self, state: TrainState, progress: Progress) -> None:
    """Starts writing `state` and `progress` at `progress.step` (asynchronously).

    Raises:
      CheckpointError: this or the previous latest save failed.
    """
    self._save(self._latest, "latest", progress.step, ocp.args.Composite(
        state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress.to_dict())
    ))

  def save_best(self, state: TrainState, progress: Progress) -> None:
    """Writes the model variables of `state` as the best model (returns when committed).

    Raises:
      CheckpointError: the save failed.
    """
    self._save(self._best, "best", progress.step, ocp.args.Composite(
        model=ocp.args.StandardSave(state.model_variables),
        progress=ocp.args.JsonSave(progress.to_dict()),
    ))
    self._wait(self._best, "best")

  def _restore(
      self, manager, which: str, step: int, item: str, target: Any
  ) -> tuple[Any, Progress]:
    path = manager.directory / str(step)
    try:
      restored = manager.restore(
          step,
          args=ocp.args.Composite(
              **{item: ocp.args.StandardRestore(_abstract(target))},
              progress=ocp.args.JsonRestore(),
          ),
      )
      progress = Progress.from_dict(restored.progress)
    except Exception as error:  # Orbax, TensorStore and JSON raise many types.
      quiet_orphaned_reads()
      raise CheckpointError(
          f"{self.workdir}: cannot restore the {which} checkpoint {path}: it is corrupt or"
          f" was written by a run with another model or optimiser"
          f" ({type(error).__name__}: {error_summary(error)}). Remove {path} to fall back to"
          " an earlier checkpoint, or train in a new --workdir."
      ) from error
    if progress.step != step:
      raise CheckpointError(
          f"{self.workdir}: the {which} checkpoint {path} records step {progress.step}, not {step}."
      )
    return restored[item], progress

  def restore_latest(self, target: TrainState) -> tuple[TrainState, Progress] | None:
    """The newest training state, or None when there is no checkpoint yet.

    Args:
      target: a state of the expected structure (its shapes, dtypes and
        shardings are used).

    Raises:
      CheckpointError: a checkpoint exists but cannot be read into `target`.
    """
    step = self.latest_step
    if step is None:
      return None
    return self._restore(self._latest, "latest", step, "state", target)

  def restore_or_start(self, target: TrainState) -> tuple[TrainState, Progress] | None:
    """What `train` resumes from: the newest state, or None for a fresh run.

    A fresh run (no checkpoint) is checked to hold nothing to lose
    (:func:`workdir.check_fresh_start`) and gets a step-0 checkpoint of
    `target` before anything else is written, so a log without a checkpoint
    beside it never comes from a kill. A resumed state is checked against
    ``W/best``. A refusal removes the checkpoint directories this object
    created, so it leaves the work directory as it found it.

    Raises:
      CheckpointError: a checkpoint cannot be read, or a best model the
        state records is missing.
      IncompatibleRunError: no checkpoint, but results of an earlier run.
    """
    try:
      return self._restore_or_start(target)
    except (CheckpointError, ValueError):
      for directory in self._created:
        if directory.is_dir() and not any(directory.iterdir()):
          directory.rmdir()
      raise

  def _restore_or_start(self, target: TrainState) -> tuple[TrainState, Progress] | None:
    restored = self.restore_latest(target)
    best = self.best_step
    if restored is None:
      if best is not None:
        raise CheckpointError(
            f"{self.workdir} has a best checkpoint (step {best}) but no latest one in"
            f" {self.workdir / LATEST_DIR}; refusing to start over. Restore the checkpoints"
            " or train in a new --workdir."
        )
      check_fresh_start(self.workdir)
      self.save_latest(target, Progress())
      self.wait()
      return None
    recorded = restored[1].early_stopping
    if recorded.best_value is not None and (best is None or best < recorded.best_step):
      raise CheckpointError(
          f"{self.workdir}: the latest checkpoint (step {restored[1].step}) records a best"
          f" model at step {recorded.best_step}, but {self.workdir / BEST_DIR} holds"
          f" {'none' if best is None else f'step {best}'}; refusing to continue without it."
          " Restore it or train in a new --workdir."
      )
    return restored

  def prune(self) -> None:
    """Deletes the oldest complete steps beyond what is kept.

    A kill can come between a commit and Orbax's removal of the oldest
    step, and a finished run never saves again to remove it; `train` calls
    this once every check of a resumed run has passed.
    """
    for manager, keep in ((self._latest, self._keep_latest), (self._best, 1)):
      for step in sorted(manager.all_steps())[:-keep]:
        manager.delete(step)

  def restore_best(self, target: TrainState) -> tuple[dict[str, Any], Progress]:
    """The best model's `{"params", "fixed"}` and the progress when it was saved.

    Raises:
      CheckpointError: there is no best checkpoint, or it cannot be read.
    """
    step = self.best_step
    if step is None:
      raise CheckpointError(
          f"{self.workdir}: no best checkpoint in {self.workdir / BEST_DIR} (one is written"
          " at the end of the first epoch); use the latest checkpoint instead."
      )
    return self._restore(self._best, "best", step, "model", target.model_variables)

  def _wait(self, manager, which: str) -> None:
    try:
      manager.wait_until_finished()
    except Exception as error:  # pylint: disable=broad-exception-caught
      raise self._write_error(manager, which, error, None) from error

  def wait(self) -> None:
    """Blocks until every started save is complete.

    Raises:
      CheckpointError: a save failed.
    """
    for manager, which in ((self._latest, "latest"), (self._best, "best")):
      if manager is not None:
        self._wait(manager, which)

  def close(self) -> None:
    """Finishes pending saves and releases the managers.

    Both managers are closed even when the first fails.

    Raises:
      CheckpointError: a pending save failed.
    """
    failure = None
    for manager, which in ((self._latest, "latest"), (self._best, "best")):
      if manager is None:
        continue
      try:
        manager.close()
      except Exception as error:  # pylint: disable=broad-exception-caught
        failure = failure or self._write_error(manager, which, error, None)
    self._latest = self._best = None
    if failure is not None:
      raise failure


def restore_model_variables(
    workdir: str | pathlib.Path, target: TrainState, checkpoint: str = "best"
) -> tuple[dict[str, Any], int]:
  """`({"params", "fixed"}, step)` of a run's `"best"` or `"latest"` checkpoint.

  Args:
    workdir: the run's directory.
    target: a state of the run's structure (shapes, dtypes, shardings).
    checkpoint: which one.

  Raises:
    ValueError: unknown `checkpoint` kind.
    CheckpointError: no such checkpoint, or it cannot be read.
  """
  if checkpoint not in CHECKPOINT_KINDS:
    raise ValueError(f"checkpoint must be one of {list(CHECKPOINT_KINDS)}, got {checkpoint!r}.")
  with RunCheckpoints(workdir, create=False) as checkpoints:
    if checkpoint == "best":
      variables, progress = checkpoints.restore_best(target)
      return variables, progress.step
    restored = checkpoints.restore_latest(target)
  if restored is None:
    raise CheckpointError(f"{pathlib.Path(workdir).absolute()}: no checkpoint to evaluate.")
  return restored[0].model_variables, restored[1].step
