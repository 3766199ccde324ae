"""Forecasting samples from one series: splits, scaling, imputation and NumPy batches.

`load_forecasting_data("pems04", data_dir)` returns a `ForecastingData` whose
`train`, `val` and `test` splits yield batches

- `x`: `[batch, in_steps, nodes, features]` float32, features in this order
  (`ForecastingData.feature_names`):

  * the k input channels, z-scored (channel 0, the target signal, first;
    k = 1 by default), missing values imputed (below);
  * the covariates (observed, then known-future ones), z-scored, the same
    for every node;
  * ``observed``: 1 where the target was observed, 0 where imputed (only
    when the series has missing values marked by NaN);
  * the calendar features of the grid (`calendar.TimeGrid.features`):
    ``time_of_day`` fraction in `[0, 1)`, ``day_of_week`` 0..6 (Monday = 0),
    ``month_of_year`` 0..11, as floats;

- `y`: `[batch, out_steps, nodes, 1]` float32, the target signal on its
  ORIGINAL scale; missing targets are NaN, or `series.info.missing_value`
  (the traffic benchmarks' zeros), to be masked from losses and metrics;
- `future` (only with known-future covariates): `[batch, out_steps, nodes,
  f]` float32, their z-scored values over the forecast horizon.

Imputation. Missing inputs (NaN) take the last observed value of their node
(the training mean before the first one), and the ``observed`` channel tells
the model which values were imputed. Zeros of datasets whose convention marks
missing readings with 0 stay as they are (STAEformer feeds them too).

Windows are start indices into the one series (no copies), split
chronologically by the rule in `windows.py`; the scalers are fit on the steps
the training windows read as inputs. Batch order is a pure function of
`(seed, epoch)`, and `start_batch` resumes an epoch exactly after a kill.
Each split is also a random-access source (`len`, `split[i]` -> one sample),
so `grain.MapDataset.source(split)` works too.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from entropy_attention_jax.data import registry
from entropy_attention_jax.data.errors import DataError, check_integer
from entropy_attention_jax.data.scaler import SCALINGS, StandardScaler
from entropy_attention_jax.data.series import Series, SeriesInfo
from entropy_attention_jax.data.windows import SPLIT_NAMES, normalize_split_ratios, split_windows

Batch = dict[str, np.ndarray]
# The calendar features of a 5-minute series such as PeMS (see `calendar.py`).
TIME_FEATURES: tuple[str, str] = ("time_of_day", "day_of_week")
OBSERVED_FEATURE = "observed"


def _channel_view(values: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
  """`values[..., channels]`: a view when the channels are contiguous (default)."""
  if channels == tuple(range(channels[0], channels[-1] + 1)):
    return values[:, :, channels[0] : channels[-1] + 1]
  return values[:, :, list(channels)]


def carry_forward(values: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
  """NaN entries of `[steps, ...]` replaced by the last earlier non-NaN one.

  Entries with no earlier value take `fill` (broadcast to `values.shape[1:]`).
  Returns `values` itself when it has no NaN.
  """
  missing = np.isnan(values)
  if not missing.any():
    return values
  steps = np.arange(values.shape[0]).reshape(-1, *([1] * (values.ndim - 1)))
  last = np.maximum.accumulate(np.where(missing, -1, steps), axis=0)
  gathered = np.take_along_axis(values, np.maximum(last, 0), axis=0)
  fill = np.broadcast_to(np.asarray(fill, values.dtype), values.shape[1:])
  return np.where(last >= 0, gathered, fill).astype(values.dtype)


class _WindowSource:
  """Gathers `(x, y[, future])` samples of given window starts from one series.

  Args:
    series: the series.
    inputs: `[steps, nodes, k]` input channels of `series.values`, imputed.
    observed: `[steps, nodes]` float32 1/0 observed flags of the target, or
      None when the inputs had nothing to impute.
    covariates: `[steps, c]` covariates, imputed (observed then known-future).
    scaler: z-score of the `k` input channels.
    covariate_scaler: z-score of the covariates (None without covariates).
    num_future: how many trailing covariates are known-future.
    calendar: `[steps, calendar features]` float32.
    in_steps: input steps per sample.
    out_steps: target steps per sample.
  """

  def __init__(
      self,
      series: Series,
      inputs: np.ndarray,
      observed: np.ndarray | None,
      covariates: np.ndarray,
      scaler: StandardScaler,
      covariate_scaler: StandardScaler | None,
      num_future: int,
      calendar: np.ndarray,
      in_steps: int,
      out_steps: int,
  ):
    self.inputs = inputs
    self.observed = observed
    self.target = series.values[:, :, 0:1]
    self.scaled_covariates = (
        covariate_scaler.transform(covariates).astype(np.float32) if covariates.shape[1]
        else covariates
    )
    self.num_future = num_future
    self.calendar = calendar
    self.scaler = scaler
    self.in_steps = in_steps
    self.out_steps = out_steps
    self.missing_value = series.info.missing_value

  @classmethod
  def build(
      cls, series: Series, channels: tuple[int, ...], scaler: StandardScaler,
      covariate_scaler: StandardScaler | None, in_steps: int, out_steps: int,
      observed_channel: bool | None = None,
  ) -> _WindowSource:
    """Imputes the inputs of `series` and lays out its features (module docstring).

    `observed_channel`: whether `x` has the observed flag; None: when the
    target has missing values (NaN).
    """
    info = series.info
    target_missing = np.isnan(series.values[:, :, 0])
    if observed_channel is None:
      observed_channel = bool(target_missing.any())
    observed = (~target_missing).astype(np.float32) if observed_channel else None
    inputs = carry_forward(_channel_view(series.values, channels), scaler.mean)
    order = _covariate_order(info)
    covariates = series.covariates[:, [info.covariate_names.index(c) for c in order]]
    if covariate_scaler is not None:
      if covariate_scaler.channel_names != tuple(order):
        raise DataError(
            f"{info.name}: the covariates are {order}, the scaler's are"
            f" {list(covariate_scaler.channel_names)}."
        )
      covariates = carry_forward(covariates, covariate_scaler.mean)
    grid = info.grid
    steps = np.arange(info.num_steps)
    calendar = (
        np.stack([grid.feature(name, steps) for name in grid.features], axis=-1)
        if grid.features else np.zeros((info.num_steps, 0), np.float32)
    )
    source = cls(
        series, inputs, observed, covariates, scaler, covariate_scaler, len(info.known_future),
        calendar, in_steps, out_steps,
    )
    source.feature_names = (
        tuple(info.channel_names[c] for c in channels) + tuple(order)
        + ((OBSERVED_FEATURE,) if observed is not None else ()) + grid.features
    )
    return source

  @property
  def num_inputs(self) -> int:
    return self.inputs.shape[-1]

  @property
  def num_features(self) -> int:
    return (
        self.num_inputs + self.scaled_covariates.shape[1] + (self.observed is not None)
        + self.calendar.shape[1]
    )

  def input_block(self, input_steps: np.ndarray) -> np.ndarray:
    """`x` for `[windows, in_steps]` step indices: `[windows, in_steps, nodes, features]`."""
    k, nodes = self.num_inputs, self.inputs.shape[1]
    x = np.empty((*input_steps.shape, nodes, self.num_features), np.float32)
    np.subtract(self.inputs[input_steps], self.scaler.mean, out=x[..., :k])
    x[..., :k] /= self.scaler.std
    position = k
    c = self.scaled_covariates.shape[1]
    if c:
      x[..., position : position + c] = self.scaled_covariates[input_steps][:, :, None, :]
      position += c
    if self.observed is not None:
      x[..., position] = self.observed[input_steps]
      position += 1
    x[..., position:] = self.calendar[input_steps][:, :, None, :]
    return x

  def gather(self, starts: np.ndarray) -> Batch:
    """`x`, `y` (and `future`) of the windows starting at `starts`."""
    input_steps = starts[:, None] + np.arange(self.in_steps)
    target_steps = starts[:, None] + np.arange(self.in_steps, self.in_steps + self.out_steps)
    batch = {"x": self.input_block(input_steps), "y": self.target[target_steps]}
    if self.num_future:
      batch["future"] = self.future_block(target_steps)
    return batch

  def future_block(self, target_steps: np.ndarray) -> np.ndarray:
    """`future` for `[windows, out_steps]` step indices: `[windows, out_steps, nodes, f]`."""
    future = self.scaled_covariates[target_steps][..., -self.num_future :]
    return np.broadcast_to(
        future[:, :, None, :], (*target_steps.shape, self.inputs.shape[1], self.num_future)
    ).copy()

  @functools.cached_property
  def filled_target(self) -> np.ndarray:
    """`[steps, nodes]` float32 target, original scale, missing values carried forward."""
    target = self.target[:, :, 0].copy()
    if self.missing_value is not None:
      target[target == self.missing_value] = np.nan
    return carry_forward(target, self.scaler.mean[..., 0])


def _covariate_order(info: SeriesInfo) -> list[str]:
  """Covariates in the order of `x`: the observed ones, then the known-future ones."""
  known = set(info.known_future)
  return [c for c in info.covariate_names if c not in known] + list(info.known_future)


def _fit_covariate_scaler(series: Series, fit_end: int) -> StandardScaler | None:
  order = _covariate_order(series.info)
  if not order:
    return None
  columns = [series.info.covariate_names.index(c) for c in order]
  fitted = StandardScaler.fit(
      series.covariates[:fit_end, columns][:, None, :], per_node=True, channel_names=order,
  )
  return StandardScaler(fitted.mean[0], fitted.std[0], tuple(order))


class WindowSplit:
  """One chronological split: window starts into a shared series.

  Attributes:
    name: `"train"`, `"val"` or `"test"`.
    starts: `[num_windows]` int64 ascending start steps.
    batch_size: default batch size of `batches` and `num_batches`.
  """

  def __init__(self, name: str, starts: np.ndarray, source: _WindowSource, batch_size: int):
    self.name = name
    self.starts = starts
    self.batch_size = batch_size
    self._source = source

  def __repr__(self) -> str:
    return f"WindowSplit({self.name!r}, {len(self)} windows, target steps {self.target_steps})"

  def __len__(self) -> int:
    return len(self.starts)

  def __getitem__(self, index: int) -> Batch:
    """Sample `index`: `x` `[in_steps, nodes, features]`, `y` `[out_steps, nodes, 1]`."""
    if not -len(self) <= index < len(self):
      raise IndexError(f"{self.name} split has {len(self)} windows, index {index} is out of range.")
    batch = self._source.gather(self.starts[index : index + 1 or None])
    return {key: value[0] for key, value in batch.items()}

  @property
  def target_steps(self) -> tuple[int, int]:
    """`[first, end)` range of the steps this split's windows predict."""
    if not len(self):
      return (0, 0)
    first_target = int(self.starts[0]) + self._source.in_steps
    return first_target, int(self.starts[-1]) + self._source.in_steps + self._source.out_steps

  def _resolve_batch_size(self, batch_size: int | None) -> int:
    return check_integer("batch_size", self.batch_size if batch_size is None else batch_size, 1)

  def num_batches(self, batch_size: int | None = None, *, drop_remainder: bool = False) -> int:
    """Batches per epoch; the last, partial one counts unless `drop_remainder`."""
    batch_size = self._resolve_batch_size(batch_size)
    rounding = math.floor if drop_remainder else math.ceil
    return rounding(len(self) / batch_size)

  def order(self, *, shuffle: bool = False, seed: int = 0, epoch: int = 0) -> np.ndarray:
    """`[num_windows]` positions in epoch order: a pure function of `(seed, epoch)`."""
    if not shuffle:
      return np.arange(len(self))
    seed, epoch = check_integer("seed", seed, 0), check_integer("epoch", epoch, 0)
    return np.random.default_rng([seed, epoch]).permutation(len(self))

  def get_batch(self, positions: np.ndarray | Sequence[int]) -> Batch:
    """The samples at `positions` (indices into this split) as one batch."""
    return self._source.gather(self.starts[np.asarray(positions, np.int64)])

  def batches(
      self,
      batch_size: int | None = None,
      *,
      shuffle: bool = False,
      seed: int = 0,
      epoch: int = 0,
      start_batch: int = 0,
      drop_remainder: bool = False,
  ) -> Iterator[Batch]:
    """NumPy batches `{"x", "y"}` of one epoch (module docstring for shapes).

    Arguments are checked when called; each batch is built when consumed.

    Args:
      batch_size: samples per batch; defaults to `self.batch_size`.
      shuffle: permute the windows (training); else chronological order.
      seed: shuffling seed.
      epoch: epoch number; each epoch has its own permutation of `seed`.
      start_batch: first batch to yield; batches before it are skipped without
        being built, so a run killed after batch `n` resumes with
        `start_batch=n + 1` and sees exactly the batches it would have seen.
      drop_remainder: drop the last partial batch (training); kept otherwise,
        so evaluation sees every window.

    Returns:
      An iterator over `num_batches(batch_size, drop_remainder=...) -
      start_batch` batches.

    Raises:
      DataError: bad `batch_size`, `seed`, `epoch` or `start_batch`.
    """
    batch_size = self._resolve_batch_size(batch_size)
    num_batches = self.num_batches(batch_size, drop_remainder=drop_remainder)
    check_integer("start_batch", start_batch, 0)
    if start_batch > num_batches:
      raise DataError(
          f"start_batch must be an integer in [0, {num_batches}] for the {self.name}"
          f" split ({len(self)} windows, batch_size={batch_size}), got {start_batch!r}."
      )
    order = self.order(shuffle=shuffle, seed=seed, epoch=epoch)
    # Checked above, now; the batches are built lazily as they are consumed.
    return (
        self.get_batch(order[batch * batch_size : (batch + 1) * batch_size])
        for batch in range(int(start_batch), num_batches)
    )


@dataclasses.dataclass(frozen=True)
class ForecastingData:
  """A series cut into train/val/test forecasting windows, with its scalers.

  Attributes:
    series: the whole series (`series.values` `[steps, nodes, channels]`).
    train: training windows.
    val: validation windows.
    test: test windows.
    scaler: z-score of the input channels, fit on the training inputs
      (`[channels]` global or `[nodes, channels]` per node).
    in_steps: input steps per sample.
    out_steps: predicted steps per sample.
    input_channels: series channels fed as inputs, target (0) first.
    split_ratios: `(train, val, test)` fractions used.
    boundaries: first steps `(b1, b2)` of the validation and test periods.
    options: the loading arguments (JSON-serialisable), to store with a run
      so that `load_forecasting_data(**options)` rebuilds the same data.
    feature_names: names of the last axis of `x`, in order.
    covariate_scaler: z-score of the covariates (None without covariates).
  """

  series: Series
  train: WindowSplit
  val: WindowSplit
  test: WindowSplit
  scaler: StandardScaler
  in_steps: int
  out_steps: int
  input_channels: tuple[int, ...]
  split_ratios: tuple[float, float, float]
  boundaries: tuple[int, int]
  options: Mapping[str, Any]
  feature_names: tuple[str, ...] = ()
  covariate_scaler: StandardScaler | None = None

  @property
  def info(self) -> SeriesInfo:
    return self.series.info

  @property
  def num_nodes(self) -> int:
    return self.info.num_nodes

  @property
  def steps_per_day(self) -> int:
    return self.info.steps_per_day

  @property
  def scaling(self) -> str:
    """``"global"`` or ``"per_node"``."""
    return self.scaler.scaling

  @property
  def calendar_features(self) -> tuple[str, ...]:
    return self.info.grid.features

  @property
  def num_input_channels(self) -> int:
    """The features before the calendar ones: value channels, covariates, observed flag."""
    return self.num_features - len(self.calendar_features)

  @property
  def num_future(self) -> int:
    """Known-future covariates, the last axis of `future` (0: no `future` in batches)."""
    return len(self.info.known_future)

  @property
  def num_features(self) -> int:
    """Size of the last axis of `x`."""
    return len(self.feature_names)

  def feature_index(self, name: str) -> int | None:
    """Position of a feature in the last axis of `x`; None if absent."""
    return self.feature_names.index(name) if name in self.feature_names else None

  @property
  def time_of_day_index(self) -> int | None:
    """Position of the time-of-day fraction in the last axis of `x` (None if absent)."""
    return self.feature_index("time_of_day")

  @property
  def day_of_week_index(self) -> int | None:
    """Position of the day-of-week index in the last axis of `x` (None if absent)."""
    return self.feature_index("day_of_week")

  @property
  def month_of_year_index(self) -> int | None:
    """Position of the month-of-year index in the last axis of `x` (None if absent)."""
    return self.feature_index("month_of_year")

  @property
  def seasonal_period(self) -> int:
    """Steps in the grid's main cycle (seasonal naive baseline)."""
    return self.info.grid.seasonal_period

  @property
  def splits(self) -> dict[str, WindowSplit]:
    return {"train": self.train, "val": self.val, "test": self.test}

  def filled_target(self) -> np.ndarray:
    """`[steps, nodes]` float32 target, original scale, missing values carried forward."""
    return self.train._source.filled_target  # pylint: disable=protected-access

  def latest_window(self, series: Series | None = None) -> tuple[Batch, np.ndarray]:
    """The inputs that forecast the `out_steps` steps after the last observed one.

    Args:
      series: a newer series with the same nodes and covariates (e.g. the
        table grown since training), scaled with this data's scalers; default:
        this data's own series.

    Returns:
      `(batch, target_steps)`: `batch` with `x` `[1, in_steps, nodes,
      features]` (and `future` `[1, out_steps, nodes, f]`), and the `[out_steps]`
      steps of the series forecast (beyond its last row where it ends there).

    Raises:
      DataError: a series with other nodes or covariates, shorter than
        `in_steps`, or without the known-future covariates of the steps to
        forecast.
    """
    if series is None:
      source = self.train._source  # pylint: disable=protected-access
      info = self.info
    else:
      info = series.info
      for what in ("node_ids", "covariate_names", "known_future", "channel_names"):
        if getattr(info, what) != getattr(self.info, what):
          raise DataError(
              f"{info.name}: the new series' {what.replace('_', ' ')} {list(getattr(info, what))}"
              f" differ from the trained ones {list(getattr(self.info, what))}."
          )
      source = _WindowSource.build(
          series, self.input_channels, self.scaler, self.covariate_scaler,
          self.in_steps, self.out_steps,
          observed_channel=OBSERVED_FEATURE in self.feature_names,
      )
      if source.feature_names != self.feature_names:
        raise DataError(
            f"{info.name}: the new series gives the features {list(source.feature_names)}, the"
            f" model was trained on {list(self.feature_names)} (another frequency?)."
        )
    if info.observed_steps < self.in_steps:
      raise DataError(
          f"{info.name}: {info.observed_steps} observed steps, fewer than the {self.in_steps}"
          " input steps a forecast needs."
      )
    input_steps = info.observed_steps - self.in_steps + np.arange(self.in_steps)
    target_steps = info.observed_steps + np.arange(self.out_steps)
    batch = {"x": source.input_block(input_steps[None])}
    if self.num_future:
      if target_steps[-1] >= info.num_steps:
        raise DataError(
            f"{info.name}: forecasting the {self.out_steps} steps after the last observed one"
            f" needs the known-future covariates {list(info.known_future)} for them, but the"
            f" table has {info.future_steps} such row(s). Add rows with the covariates filled"
            " and the node cells empty."
        )
      batch["future"] = source.future_block(target_steps[None])
    return batch, target_steps


def _channel_indices(info: SeriesInfo, input_channels: Sequence[int | str]) -> tuple[int, ...]:
  indices = []
  for channel in input_channels:
    if isinstance(channel, str):
      if channel not in info.channel_names:
        raise DataError(
            f"{info.name}: no channel {channel!r}; channels are {list(info.channel_names)}."
        )
      channel = info.channel_names.index(channel)
    if isinstance(channel, bool) or int(channel) != channel or not 0 <= channel < info.num_channels:
      raise DataError(
          f"{info.name}: input channel {channel!r} is not one of 0..{info.num_channels - 1}"
          f" ({list(info.channel_names)})."
      )
    indices.append(int(channel))
  if not indices or indices[0] != 0 or len(set(indices)) != len(indices):
    raise DataError(
        f"{info.name}: input_channels must start with the target channel 0"
        f" ({info.channel_names[0]!r}) and not repeat, got {list(input_channels)}."
    )
  return tuple(indices)


def default_scaling(name: str) -> str:
  """The dataset's scaling convention: its builder's `DEFAULT_SCALING` (else per node)."""
  builder = registry.DATASETS.get(name)
  return getattr(builder, "DEFAULT_SCALING", "per_node")


def make_forecasting_data(
    series: Series,
    *,
    in_steps: int | None = None,
    out_steps: int | None = None,
    split_ratios: Sequence[float] | None = None,
    input_channels: Sequence[int | str] = (0,),
    scaler_ignore_zeros: bool = False,
    scaling: str | None = None,
    batch_size: int = 16,
    options: Mapping[str, Any] | None = None,
) -> ForecastingData:
  """Cuts a series into forecasting splits, imputes the inputs and fits the scalers.

  Args:
    series: the whole series.
    in_steps: input steps per sample; None: the dataset's convention or the
      frequency's default (`registry.dataset_window`: at least one seasonal period).
    out_steps: predicted steps per sample; None: the frequency's default.
    split_ratios: `(train, val, test)` fractions; `None` uses the dataset's
      default (`series.info.default_split_ratios`).
    input_channels: channels (indices or names) fed as inputs; must start with
      0, the target. Default: the target only.
    scaler_ignore_zeros: fit the scaler without exact zeros (missing
      readings); default False keeps them, as STAEformer does.
    scaling: ``"global"`` (one mean/std per channel) or ``"per_node"``; None:
      the dataset's convention (`default_scaling`).
    batch_size: default batch size of the splits.
    options: loading arguments to record in `ForecastingData.options`.

  Returns:
    The `ForecastingData`.

  Raises:
    DataError: too short a series for one window or for a split, bad ratios,
      channels, scaling or sizes.
  """
  info = series.info
  batch_size = check_integer("batch_size", batch_size, 1)
  default_in, default_out = registry.dataset_window(info)
  in_steps = default_in if in_steps is None else in_steps
  out_steps = default_out if out_steps is None else out_steps
  scaling = default_scaling(info.name) if scaling is None else scaling
  if scaling not in SCALINGS:
    raise DataError(f"scaling must be one of {list(SCALINGS)}, got {scaling!r}.")
  ratios = normalize_split_ratios(
      info.default_split_ratios if split_ratios is None else split_ratios
  )
  windows = split_windows(info.observed_steps, in_steps, out_steps, ratios)
  channels = _channel_indices(info, input_channels)
  raw_inputs = _channel_view(series.values, channels)
  # The training windows read steps [0, last start + in_steps) as inputs.
  fit_end = int(windows.train[-1]) + in_steps
  scaler = StandardScaler.fit(
      raw_inputs[:fit_end],
      ignore_zeros=scaler_ignore_zeros,
      per_node=scaling == "per_node",
      channel_names=[info.channel_names[c] for c in channels],
      node_ids=info.node_ids,
  )
  covariate_scaler = _fit_covariate_scaler(series, fit_end)
  source = _WindowSource.build(
      series, channels, scaler, covariate_scaler, in_steps, out_steps
  )
  splits = {
      name: WindowSplit(name, starts, source, batch_size)
      for name, starts in zip(SPLIT_NAMES, windows[:3])
  }
  all_options = {
      "name": info.name,
      "in_steps": in_steps,
      "out_steps": out_steps,
      "split_ratios": list(ratios),
      "input_channels": list(channels),
      "scaler_ignore_zeros": scaler_ignore_zeros,
      "scaling": scaling,
      "batch_size": batch_size,
      **(options or {}),
  }
  return ForecastingData(
      series=series,
      scaler=scaler,
      in_steps=in_steps,
      out_steps=out_steps,
      input_channels=channels,
      split_ratios=ratios,
      boundaries=windows.boundaries,
      options=all_options,
      feature_names=source.feature_names,
      covariate_scaler=covariate_scaler,
      **splits,
  )


def load_forecasting_data(
    name: str,
    data_dir: str | pathlib.Path,
    *,
    in_steps: int | None = None,
    out_steps: int | None = None,
    split_ratios: Sequence[float] | None = None,
    input_channels: Sequence[int | str] = (0,),
    scaler_ignore_zeros: bool = False,
    scaling: str | None = None,
    batch_size: int = 16,
    build_if_missing: bool = True,
    manual_dir: str | pathlib.Path | None = None,
    **builder_options: Any,
) -> ForecastingData:
  """Loads a built dataset (building it first if needed) as forecasting splits.

  Args:
    name: a dataset name (`registry.dataset_names()`), e.g. `"synthetic_traffic"`.
    data_dir: where datasets are built (TFDS `data_dir`).
    in_steps: input steps per sample (None: the frequency's default).
    out_steps: predicted steps per sample (None: the frequency's default).
    split_ratios: `(train, val, test)` fractions; `None` uses the dataset's
      default (6:2:2 PEMS0x and synthetic, 7:1:2 the others).
    input_channels: channels (indices or names) fed as inputs, target first.
    scaler_ignore_zeros: fit the scaler without zeros (missing readings).
    scaling: ``"global"`` or ``"per_node"`` (None: the dataset's convention).
    batch_size: default batch size of the splits.
    build_if_missing: build the dataset when it is not built yet.
    manual_dir: where manual files are (default `<data_dir>/downloads/manual`).
    **builder_options: dataset options, e.g. `nodes=100, days=28, seed=1` for
      `synthetic_traffic` or `file="my.csv"` for `wide_table`.

  Returns:
    The `ForecastingData` (module docstring for the batch layout).

  Raises:
    DataError: unknown name or option, a dataset not built (and
      `build_if_missing=False`), bad data, or a series too short.
    MissingFileError: a manual file is missing.
  """
  series = registry.load_series(
      name, data_dir, manual_dir=manual_dir, build_if_missing=build_if_missing,
      in_steps=in_steps, out_steps=out_steps, **builder_options,
  )
  return make_forecasting_data(
      series,
      in_steps=in_steps,
      out_steps=out_steps,
      split_ratios=split_ratios,
      input_channels=input_channels,
      scaler_ignore_zeros=scaler_ignore_zeros,
      scaling=scaling,
      batch_size=batch_size,
      options={
          "name": name,
          "data_dir": str(data_dir),
          **{k: v for k, v in builder_options.items() if v is not None},
      },
  )
