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
naming the directory; nothing silently starts over.
"""

from __future__ import annotations

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from entropy_attention_jax.training.state import Progress, TrainState

LATEST_DIR = "checkpoints"
BEST_DIR = "best"


class CheckpointError(RuntimeError):
  """A checkpoint that exists but cannot be restored."""


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

  def save_latest(self, state: TrainState, progress: Progress) -> None:
    """Starts writing `state` and `progress` at `progress.step` (asynchronously)."""
    self._latest.save(
        progress.step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress.to_dict())
        ),
    )

  def save_best(self, state: TrainState, progress: Progress) -> None:
    """Starts writing the model variables of `state` as the best model."""
    self._best.save(
        progress.step,
        args=ocp.args.Composite(
            model=ocp.args.StandardSave(state.model_variables),
            progress=ocp.args.JsonSave(progress.to_dict()),
        ),
    )

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
      raise CheckpointError(
          f"{self.workdir}: cannot restore the {which} checkpoint {path}: it is corrupt or"
          f" was written by a run with another model or optimiser"
          f" ({type(error).__name__}: {str(error)[:500]}). Remove {path} to fall back to an"
          " earlier checkpoint, or train in a new --workdir."
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

  def wait(self) -> None:
    """Blocks until every started save is complete."""
    for manager in (self._latest, self._best):
      if manager is not None:
        manager.wait_until_finished()

  def close(self) -> None:
    """Finishes pending saves and releases the managers."""
    for manager in (self._latest, self._best):
      if manager is not None:
        manager.close()
