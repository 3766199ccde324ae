"""Train, evaluate and predict: the loops around the jitted steps.

`train(config, workdir)` is the whole job: load the data, resolve and store
the config, restore the newest checkpoint of `workdir` if there is one, train
epoch by epoch (data order from `(seed, epoch)`, resuming mid-epoch at the
stored batch), evaluate on the validation split after each epoch, keep the
best model, stop early, then evaluate the best model on the test split.
`evaluate(workdir)` and `predict(workdir, path)` rebuild everything from the
stored config and scaler.

Resuming is exact: a run killed at any moment and restarted on the same work
directory takes the same steps on the same batches with the same dropout
masks as an uninterrupted run, and ends with the same metrics (see state.py
for the PRNG, metrics_log.py for the log).
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import optax
from jax.sharding import Mesh

from entropy_attention_jax import data as data_lib
from entropy_attention_jax.models import ELinFormerConfig
from entropy_attention_jax.training import baselines as baselines_lib
from entropy_attention_jax.training import metrics as metrics_lib
from entropy_attention_jax.training import predictions as predictions_lib
from entropy_attention_jax.training.checkpoint import (
    CheckpointError,
    RunCheckpoints,
    restore_model_variables,
)
from entropy_attention_jax.training.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    default_data_dir,
    resolve,
)
from entropy_attention_jax.training.lock import holding_workdir_lock
from entropy_attention_jax.training.metrics_log import MetricsLog
from entropy_attention_jax.training.optim import learning_rate_schedule, make_optimizer
from entropy_attention_jax.training.sharding import (
    data_mesh,
    pad_batch,
    padded_batch_size,
    replicate,
    shard_batch,
)
from entropy_attention_jax.training.state import ModelDef, Progress, TrainState, init_train_state
from entropy_attention_jax.training.steps import (
    jit_eval_step,
    jit_train_step,
    make_eval_step,
    make_predict_step,
    make_train_step,
)
from entropy_attention_jax.training.workdir import (
    IncompatibleRunError,
    load_config,
    save_or_check_config,
    save_or_check_scaler,
    write_metrics,
)

Echo = Callable[[str], None]
SPLITS: tuple[str, ...] = ("train", "val", "test")


def _echo(message: str) -> None:
  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top

  tqdm.write(message)  # Prints above an active progress bar.


def load_data(config: DataConfig, *, build_if_missing: bool = True) -> data_lib.ForecastingData:
  """The `ForecastingData` of a data config (building the dataset if needed)."""
  return data_lib.load_forecasting_data(
      config.dataset,
      config.data_dir or default_data_dir(),
      in_steps=config.in_steps,
      out_steps=config.out_steps,
      split_ratios=config.split_ratios,
      input_channels=config.input_channels,
      scaler_ignore_zeros=config.scaler_ignore_zeros,
      scaling=config.scaling,
      build_if_missing=build_if_missing,
      manual_dir=config.manual_dir,
      **config.builder_options,
  )


@dataclasses.dataclass(frozen=True)
class Run:
  """Everything built from a resolved config, before any checkpoint is read.

  Attributes:
    workdir: the run's directory (absolute).
    config: the resolved config.
    data: the forecasting splits and scaler.
    model_config: the model.
    mesh: devices the batch is split over.
    model_def: the split model's static half.
    optimizer: the Optax optimiser.
    steps_per_epoch: training steps per epoch (partial batches dropped).
    train_rows: rows of a training batch after padding for the mesh.
    eval_rows: rows of an evaluation batch after padding for the mesh.
    initial_state: freshly initialised state, replicated over the mesh.
  """

  workdir: pathlib.Path
  config: ExperimentConfig
  data: data_lib.ForecastingData
  model_config: ELinFormerConfig
  mesh: Mesh
  model_def: ModelDef
  optimizer: optax.GradientTransformation
  steps_per_epoch: int
  train_rows: int
  eval_rows: int
  initial_state: TrainState

  @property
  def num_parameters(self) -> int:
    return sum(math.prod(x.shape) for x in jax.tree.leaves(self.initial_state.params))

  def describe(self) -> str:
    data, model, train = self.data, self.model_config, self.config.train
    return "\n".join([
        f"data   {self.config.data.dataset}: {data.num_nodes} nodes, {data.in_steps} -> "
        f"{data.out_steps} steps, windows train/val/test {len(data.train)}/{len(data.val)}/"
        f"{len(data.test)}",
        f"model  ELinFormer, {self.num_parameters:,} parameters, width {model.model_dim},"
        f" {model.num_temporal_layers} temporal ({model.temporal_attention}) +"
        f" {model.num_spatial_layers} spatial ({model.spatial_attention}) layers",
        f"train  {self.steps_per_epoch} steps/epoch of {train.batch_size}, up to {train.epochs}"
        f" epochs, {train.loss} loss, {self.config.optim.optimizer} lr"
        f" {self.config.optim.learning_rate:g}; {self.mesh.devices.size} device(s)"
        f" ({jax.devices()[0].platform})",
    ])

  def jitted_eval_step(self, split_output: bool = False) -> Callable:
    """The jitted eval step (per-step error sums) or, with `split_output`, predict step."""
    if split_output:
      step = make_predict_step(self.model_def, self.data.scaler)
    else:
      step = make_eval_step(self.model_def, self.data.scaler, self.data.info.missing_value)
    return jit_eval_step(step, self.mesh, split_output=split_output)

  def summarize(self, sums: metrics_lib.ErrorSums) -> dict[str, Any]:
    """Metrics of summed errors, with per-node ones (and `mae_scaled` when scaled per node)."""
    scaler = self.data.scaler
    return metrics_lib.summarize(
        sums, node_ids=self.data.info.node_ids,
        node_scale=scaler.std[:, 0] if scaler.per_node else None,
    )


def build_run(
    config: ExperimentConfig,
    data: data_lib.ForecastingData,
    workdir: str | pathlib.Path,
    *,
    mesh: Mesh | None = None,
) -> Run:
  """Builds the model, optimiser and initial state of a resolved config.

  Raises:
    ConfigError: the training split has fewer windows than one batch.
  """
  mesh = data_mesh() if mesh is None else mesh
  train = config.train
  steps_per_epoch = data.train.num_batches(train.batch_size, drop_remainder=True)
  if steps_per_epoch < 1:
    raise ConfigError(
        f"train.batch_size={train.batch_size} is larger than the {len(data.train)} training"
        " windows; use a smaller batch or more data."
    )
  model_config = ELinFormerConfig.from_dict(config.model)
  optimizer = make_optimizer(config.optim, steps_per_epoch)
  model_def, state = init_train_state(model_config, optimizer, train.seed)
  return Run(
      workdir=pathlib.Path(workdir).absolute(),
      config=config,
      data=data,
      model_config=model_config,
      mesh=mesh,
      model_def=model_def,
      optimizer=optimizer,
      steps_per_epoch=steps_per_epoch,
      train_rows=padded_batch_size(train.batch_size, mesh),
      eval_rows=padded_batch_size(train.resolved_eval_batch_size, mesh),
      initial_state=replicate(state, mesh),
  )


def evaluate_split(
    run: Run, eval_step: Callable, variables: dict[str, Any], split: data_lib.WindowSplit
) -> dict[str, Any]:
  """Masked MAE / RMSE / MAPE of `variables` on `split` (every window once).

  Returns:
    :func:`metrics.summarize` output.
  """
  total = None
  for batch in split.batches(run.config.train.resolved_eval_batch_size):
    batch = shard_batch(pad_batch(batch, run.eval_rows), run.mesh)
    sums = eval_step(variables["params"], variables["fixed"], batch)
    total = metrics_lib.add_sums(total, jax.device_get(sums))
  return run.summarize(total)


def _check_progress(run: Run, progress: Progress) -> None:
  expected = progress.epoch * run.steps_per_epoch + progress.batch_in_epoch
  if progress.step != expected or progress.batch_in_epoch > run.steps_per_epoch:
    raise CheckpointError(
        f"{run.workdir}: the latest checkpoint is at step {progress.step}, epoch"
        f" {progress.epoch} batch {progress.batch_in_epoch}, which does not fit"
        f" {run.steps_per_epoch} steps per epoch; it belongs to other data or batch size."
    )


class _Trainer:
  """The epoch loop of :func:`train` (state and bookkeeping of one session)."""

  def __init__(self, run: Run, checkpoints: RunCheckpoints, log: MetricsLog, echo: Echo,
               show_progress: bool):
    self.run, self.checkpoints, self.log, self.echo = run, checkpoints, log, echo
    self.show_progress = show_progress
    config = run.config
    self.train_step = jit_train_step(
        make_train_step(
            run.model_def, run.optimizer, run.data.scaler, loss=config.train.loss,
            huber_delta=config.train.huber_delta, mask_zeros=config.train.mask_zeros,
            missing_value=run.data.info.missing_value,
        ),
        run.mesh,
    )
    self.eval_step = run.jitted_eval_step()
    self.schedule = learning_rate_schedule(config.optim, run.steps_per_epoch)
    self.session_start, self.elapsed_before = time.perf_counter(), 0.0

  def elapsed(self) -> float:
    return self.elapsed_before + time.perf_counter() - self.session_start

  def limit_reached(self, progress: Progress) -> str | None:
    """Why this session must stop now (`train.max_steps` / `max_minutes`), or None."""
    train = self.run.config.train
    if train.max_steps and progress.step >= train.max_steps:
      return f"train.max_steps={train.max_steps} reached"
    if train.max_minutes and time.perf_counter() - self.session_start >= 60 * train.max_minutes:
      return f"train.max_minutes={train.max_minutes:g} reached"
    return None

  def record(self, progress: Progress, kind: str, **fields: Any) -> None:
    self.log.write({
        "kind": kind, "step": progress.step, "epoch": progress.epoch + 1, **fields,
        "learning_rate": float(self.schedule(max(progress.step - 1, 0))),
        "elapsed_s": round(self.elapsed(), 3), "time": time.time(),
    })

  def save_latest(self, state: TrainState, progress: Progress) -> None:
    progress.metrics_log_bytes, progress.metrics_log_sha256 = self.log.size, self.log.sha256
    progress.elapsed_seconds = self.elapsed()
    self.checkpoints.save_latest(state, progress)

  def train_epoch(self, state: TrainState, progress: Progress) -> TrainState:
    """Trains from `progress.batch_in_epoch` to the end of `progress.epoch`."""
    from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top

    run, train = self.run, self.run.config.train
    batches = run.data.train.batches(
        train.batch_size, shuffle=True, seed=train.seed, epoch=progress.epoch,
        start_batch=progress.batch_in_epoch, drop_remainder=True,
    )
    bar = tqdm(
        total=run.steps_per_epoch, initial=progress.batch_in_epoch, leave=False,
        desc=f"epoch {progress.epoch + 1}/{train.epochs}", disable=not self.show_progress,
        file=sys.stderr, dynamic_ncols=True,
    )
    with bar:
      for batch in batches:
        batch = shard_batch(pad_batch(batch, run.train_rows), run.mesh)
        state, measurements = self.train_step(state, batch)
        loss = float(measurements["loss"])
        progress.step += 1
        progress.batch_in_epoch += 1
        grad_norm = float(measurements["grad_norm"])  # Non-finite: the new state is bad.
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
          raise FloatingPointError(
              f"{run.workdir}: the training loss is {loss} (gradient norm {grad_norm}) at step"
              f" {progress.step} (epoch {progress.epoch + 1}); the checkpoints before it are"
              " kept. Lower optim.learning_rate or set optim.clip_grad_norm."
          )
        progress.epoch_loss_sum += loss
        progress.epoch_loss_count += 1
        progress.log_loss_sum += loss
        progress.log_loss_count += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        if progress.step % train.log_every_steps == 0:
          self.record(
              progress, "train", train_loss=progress.log_loss_sum / progress.log_loss_count,
              grad_norm=float(measurements["grad_norm"]),
          )
          progress.log_loss_sum, progress.log_loss_count = 0.0, 0
        end_of_epoch = progress.batch_in_epoch == run.steps_per_epoch
        if not end_of_epoch and train.checkpoint_every_steps and (
            progress.step % train.checkpoint_every_steps == 0
        ):
          self.save_latest(state, progress)
        if not end_of_epoch and self.limit_reached(progress):
          break
    return state

  def end_epoch(self, state: TrainState, progress: Progress) -> None:
    """Validation, early stopping, best and latest checkpoints after an epoch."""
    run, train = self.run, self.run.config.train
    val = evaluate_split(run, self.eval_step, state.model_variables, run.data.val)
    metrics_lib.check_finite(val, f"{run.workdir}: the validation metrics at step {progress.step}"
                             f" (epoch {progress.epoch + 1}; earlier checkpoints kept)")
    early = progress.early_stopping
    improved = early.update(val["mae"], epoch=progress.epoch, step=progress.step)
    train_loss = progress.epoch_loss_sum / max(progress.epoch_loss_count, 1)
    self.record(
        progress, "val", train_loss=train_loss,
        **{f"val_{name}": val[name] for name in metrics_lib.METRIC_NAMES},
        best_val_mae=early.best_value,
    )
    self.echo(
        f"epoch {progress.epoch + 1}/{train.epochs}  step {progress.step}  train loss"
        f" {train_loss:.4f}  val MAE {_fmt(val['mae'])} RMSE {_fmt(val['rmse'])}"
        f" MAPE {_fmt(val['mape'])}%{'  *best' if improved else ''}  ({self.elapsed():.0f} s)"
    )
    progress.epoch += 1
    progress.batch_in_epoch = 0
    progress.epoch_loss_sum, progress.epoch_loss_count = 0.0, 0
    if early.should_stop(train.patience):
      progress.finished, progress.stop_reason = True, "early_stopping"
      self.echo(
          f"early stopping: no better validation MAE for {train.patience} epochs (best"
          f" {_fmt(early.best_value)} at epoch {early.best_epoch + 1})"
      )
    elif progress.epoch >= train.epochs:
      progress.finished, progress.stop_reason = True, "epochs"
    if improved:
      progress.metrics_log_bytes, progress.metrics_log_sha256 = self.log.size, self.log.sha256
      progress.elapsed_seconds = self.elapsed()
      self.checkpoints.save_best(state, progress)
    self.save_latest(state, progress)

  def fit(self, state: TrainState, progress: Progress) -> tuple[TrainState, Progress, str | None]:
    """Trains until finished, a limit or Ctrl-C; returns why it stopped early (or None)."""
    self.elapsed_before = progress.elapsed_seconds
    self.session_start = time.perf_counter()
    stop = self.limit_reached(progress)
    try:
      while not progress.finished and progress.epoch < self.run.config.train.epochs and not stop:
        state = self.train_epoch(state, progress)
        if progress.batch_in_epoch == self.run.steps_per_epoch:
          self.end_epoch(state, progress)
        stop = self.limit_reached(progress)
    except KeyboardInterrupt:
      # The step in flight may be half-applied (its input state is donated):
      # nothing is saved, and training resumes from the last checkpoint.
      self.echo(
          f"interrupted: training resumes from the last checkpoint; evaluating what is saved."
      )
      return state, progress, "interrupted"
    if stop and progress.batch_in_epoch:
      self.save_latest(state, progress)
    if stop:
      self.echo(f"stopping at step {progress.step}: {stop}; train again to resume.")
    return state, progress, stop


def _fmt(value: float | None) -> str:
  return "-" if value is None else f"{value:.4f}"


@holding_workdir_lock("train")
def train(
    config: ExperimentConfig,
    workdir: str | pathlib.Path,
    *,
    evaluate_test: bool = True,
    show_progress: bool | None = None,
    echo: Echo = _echo,
    mesh: Mesh | None = None,
) -> dict[str, Any] | None:
  """Trains (or resumes training) in `workdir`, then evaluates on the test split.

  Args:
    config: the run's config (unresolved is fine: see `config.resolve`).
    workdir: the run's directory; a run already there is resumed from its
      latest checkpoint (and must have a compatible config).
    evaluate_test: evaluate the best checkpoint on the test split at the end
      and write ``W/test_metrics.json``.
    show_progress: progress bars on stderr; None: only when it is a terminal.
    echo: where status lines go.
    mesh: devices to train on (default: all).

  Returns:
    The test metrics (`metrics.summarize` layout), or None if not evaluated.

  Raises:
    ConfigError, data.DataError: bad config or data.
    IncompatibleRunError: `workdir` holds a run with another config or data,
      or an earlier run's results without its checkpoints.
    CheckpointError: a checkpoint in `workdir` cannot be restored or written.
    FloatingPointError: the training loss, or a validation or test metric,
      became NaN or infinite.
    lock.WorkdirBusyError: another process holds `workdir` (see lock.py).
    lock.WorkdirError: `workdir` cannot be created or written.
  """
  workdir = pathlib.Path(workdir).absolute()
  data = load_data(config.data)
  config = resolve(config, data)
  save_or_check_config(workdir, config, write=False)
  save_or_check_scaler(workdir, data.scaler)
  run = build_run(config, data, workdir, mesh=mesh)
  show_progress = sys.stderr.isatty() if show_progress is None else show_progress
  with RunCheckpoints(workdir) as checkpoints:
    restored = checkpoints.restore_or_start(run.initial_state)
    state, progress = restored if restored is not None else (run.initial_state, Progress())
    _check_progress(run, progress)
    more_epochs = progress.stop_reason == "epochs" and progress.epoch < config.train.epochs
    if progress.finished and more_epochs:
      progress.finished = False
    echo(run.describe())
    if restored is not None:
      echo(
          f"resuming {workdir} at step {progress.step} (epoch {progress.epoch + 1},"
          f" batch {progress.batch_in_epoch})" if not progress.finished
          else f"{workdir} is finished ({progress.stop_reason}) at step {progress.step}"
      )
    log = MetricsLog(
        workdir, resume_bytes=progress.metrics_log_bytes, resume_step=progress.step,
        resume_sha256=progress.metrics_log_sha256,
        enabled=jax.process_index() == 0,
    )
    save_or_check_config(workdir, config)  # Every check passed: record resumable changes.
    checkpoints.prune()
    trainer = _Trainer(run, checkpoints, log, echo, show_progress)
    try:
      _, _, stop = trainer.fit(state, progress)
    finally:
      log.close()
    has_best = checkpoints.best_step is not None
  if not evaluate_test:
    return None
  checkpoint = "best" if has_best else "latest"
  if stop and not has_best:
    echo(f"no epoch finished yet: evaluating the latest checkpoint (step {progress.step}).")
  return evaluate_run(run, checkpoint=checkpoint, split="test", echo=echo,
                      eval_step=trainer.eval_step)


def evaluate_run(
    run: Run, *, checkpoint: str = "best", split: str = "test", echo: Echo = _echo,
    write: bool = True, eval_step: Callable | None = None,
) -> dict[str, Any]:
  """Evaluates a built run's checkpoint on a split; writes ``W/<split>_metrics.json``.

  `eval_step` reuses an already jitted step of this run (`run.jitted_eval_step()`).
  """
  variables, step = restore_variables(run, checkpoint)
  eval_step = run.jitted_eval_step() if eval_step is None else eval_step
  window_split = run.data.splits[split]
  result = evaluate_split(run, eval_step, variables, window_split)
  metrics_lib.check_finite(result, f"{run.workdir}: the {split} metrics of the {checkpoint}"
                           f" checkpoint (step {step})")
  result["checkpoint"], result["step"] = checkpoint, step
  result["baselines"] = baselines_lib.evaluate_baselines(
      run.data, window_split, summarize=run.summarize
  )
  result.update(baselines_lib.skill(result["mae"], result["baselines"]))
  if write and jax.process_index() == 0:
    write_metrics(run.workdir / f"{split}_metrics.json", result)
  echo(metrics_lib.format_table(
      result, f"{split} metrics, {checkpoint} checkpoint (step {step}), {run.config.data.dataset}:"
  ))
  return result


def restore_variables(run: Run, checkpoint: str) -> tuple[dict[str, Any], int]:
  """`({"params", "fixed"}, step)` of the run's `"best"` or `"latest"` checkpoint.

  Raises:
    ValueError: unknown `checkpoint` kind.
    CheckpointError: no such checkpoint, or it cannot be read.
  """
  return restore_model_variables(run.workdir, run.initial_state, checkpoint)


def open_run(
    workdir: str | pathlib.Path, *, data_dir: str | None = None, mesh: Mesh | None = None
) -> Run:
  """Rebuilds a trained run from its stored config and scaler (no checkpoint read yet).

  Args:
    workdir: a directory `train` wrote.
    data_dir: where the dataset is now, if it moved.
    mesh: devices to evaluate on (default: all).

  Raises:
    IncompatibleRunError: not a run, or the data no longer matches it.
  """
  workdir = pathlib.Path(workdir).absolute()
  stored = load_config(workdir)
  if data_dir is not None:
    stored = dataclasses.replace(stored, data=dataclasses.replace(stored.data, data_dir=data_dir))
  data = load_data(stored.data)
  save_or_check_scaler(workdir, data.scaler)
  config = resolve(stored, data)
  if config.model != stored.model:
    raise IncompatibleRunError(
        f"{workdir}: the data now gives another model shape than the stored config (nodes,"
        " steps or channels changed)."
    )
  return build_run(config, data, workdir, mesh=mesh)


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}.")


@holding_workdir_lock("evaluate")
def evaluate(
    workdir: str | pathlib.Path,
    *,
    checkpoint: str = "best",
    split: str = "test",
    data_dir: str | None = None,
    echo: Echo = _echo,
) -> dict[str, Any]:
  """Evaluates a trained run; writes ``W/<split>_metrics.json`` (``W/test_metrics.json``).

  Args:
    workdir: a directory `train` wrote.
    checkpoint: ``"best"`` (lowest validation MAE) or ``"latest"``.
    split: ``"test"``, ``"val"`` or ``"train"``.
    data_dir: where the dataset is now, if it moved.
    echo: where the table goes.

  Returns:
    ``{"mae", "rmse", "mape", "horizons": {"3": {...}, ...}}`` on the original
    scale, MAPE in percent.
  """
  _check_split(split)
  run = open_run(workdir, data_dir=data_dir)
  return evaluate_run(run, checkpoint=checkpoint, split=split, echo=echo)


def predict(
    workdir: str | pathlib.Path,
    output: str | pathlib.Path,
    *,
    checkpoint: str = "best",
    split: str = "test",
    data_dir: str | None = None,
    plot: str | pathlib.Path | None = None,
    plot_nodes: Sequence[str] = (),
) -> pathlib.Path:
  """Writes a split's forecasts (original scale) with their targets.

  `output` ending in ``.csv``/``.parquet`` gets the long table of
  `predictions.py` (`timestamp, node, horizon, forecast, target`). A
  ``.npz`` holds `predictions` and `targets` `[windows, out_steps, nodes, 1]`
  float32, `starts` `[windows]` (first input step of each window in the
  series), `target_steps` `[windows, out_steps]` (series steps predicted) and
  `step`, the checkpoint's training step.

  Args:
    workdir: a directory `train` wrote.
    output: the file to write.
    checkpoint: ``"best"`` or ``"latest"``.
    split: ``"test"``, ``"val"`` or ``"train"``.
    data_dir: where the dataset is now, if it moved.
    plot: also draw the split's last window for a few nodes into this image.
    plot_nodes: node ids to draw (default: the first four).

  Returns:
    The path written.
  """
  _check_split(split)
  run = open_run(workdir, data_dir=data_dir)
  variables, step = restore_variables(run, checkpoint)
  window_split = run.data.splits[split]
  output = pathlib.Path(output)
  if output.suffix in predictions_lib.TABLE_SUFFIXES:
    frame = predictions_lib.split_table(run, variables, split)
    path = predictions_lib.write_table(frame, output)
    if plot is not None:
      predictions_lib.plot_forecast(
          run, frame, plot, nodes=plot_nodes,
          first_forecast_step=int(window_split.starts[-1]) + run.data.in_steps,
      )
    return path
  if output.suffix != ".npz":
    output = output.with_name(output.name + ".npz")  # What np.savez would do silently.
  batch_size = run.config.train.resolved_eval_batch_size
  predicted = predictions_lib.predict_batches(run, variables, window_split.batches(batch_size))
  targets = np.concatenate([b["y"] for b in window_split.batches(batch_size)])
  output.parent.mkdir(parents=True, exist_ok=True)
  starts = window_split.starts
  np.savez(
      output,
      predictions=predicted[..., None],
      targets=targets.astype(np.float32),
      starts=starts,
      target_steps=starts[:, None] + run.data.in_steps + np.arange(run.data.out_steps),
      step=np.int64(step),
  )
  return output


def forecast(
    workdir: str | pathlib.Path,
    *,
    checkpoint: str = "best",
    data_dir: str | None = None,
    file: str | pathlib.Path | None = None,
) -> Any:
  """Forecasts the `out_steps` steps after the last observed row of the table.

  Args:
    workdir: a directory `train` wrote.
    checkpoint: ``"best"`` or ``"latest"``.
    data_dir: where the dataset is now, if it moved.
    file: a newer table with the same columns (a wide table: read with the
      run's options, scaled with the run's scalers); default: the training data.

  Returns:
    A pandas DataFrame with columns `timestamp, node, horizon, forecast`
    (`out_steps × nodes` rows; timestamps in the input's time zone and format).

  Raises:
    data.DataError: a newer table that does not fit the run.
  """
  run, variables, series = _forecast_inputs(workdir, checkpoint, data_dir, file)
  return predictions_lib.future_table(run, variables, series)


def _forecast_inputs(workdir, checkpoint, data_dir, file):
  run = open_run(workdir, data_dir=data_dir)
  variables, _ = restore_variables(run, checkpoint)
  series = None
  if file is not None:
    if run.config.data.dataset != "wide_table":
      raise ConfigError(
          f"--file needs a wide_table run; {workdir} trained on {run.config.data.dataset}."
      )
    options = {k: v for k, v in run.config.data.builder_options.items() if k != "file"}
    series = data_lib.read_table(file, **options)
  return run, variables, series


def forecast_to_file(
    workdir: str | pathlib.Path,
    output: str | pathlib.Path,
    *,
    checkpoint: str = "best",
    data_dir: str | None = None,
    file: str | pathlib.Path | None = None,
    plot: str | pathlib.Path | None = None,
    plot_nodes: Sequence[str] = (),
) -> pathlib.Path:
  """`forecast` written to a CSV/Parquet `output` (and drawn into `plot`)."""
  run, variables, series = _forecast_inputs(workdir, checkpoint, data_dir, file)
  frame = predictions_lib.future_table(run, variables, series)
  path = predictions_lib.write_table(frame, output)
  if plot is not None:
    predictions_lib.plot_forecast(run, frame, plot, nodes=plot_nodes, series=series)
  return path
