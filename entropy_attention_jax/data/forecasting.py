"""Forecasting samples from one series: splits, scaling and NumPy batches.

`load_forecasting_data("pems04", data_dir)` returns a `ForecastingData` whose
`train`, `val` and `test` splits yield batches

- `x`: `[batch, in_steps, nodes, k + 2]` float32: the k input channels
  z-scored (channel 0, the target signal, first; k = 1 by default), then the
  time-of-day fraction in [0, 1) and the day-of-week index 0..6 (Monday = 0) as
  a float;
- `y`: `[batch, out_steps, nodes, 1]` float32: the target signal on its
  ORIGINAL scale (map predictions back with `data.scaler.inverse_transform`
  before the loss and the metrics, as STAEformer does; zeros are missing
  readings, to be masked).

Windows are start indices into the one series (no copies), split
chronologically by the rule in `windows.py`; the scaler is fit on the steps the
training windows read as inputs. Batch order is a pure function of
`(seed, epoch)`, and `start_batch` resumes an epoch exactly after a kill.
Each split is also a random-access source (`len`, `split[i]` -> one sample),
so `grain.MapDataset.source(split)` works too.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from entropy_attention_jax.data import registry
from entropy_attention_jax.data.errors import DataError, check_integer
from entropy_attention_jax.data.scaler import StandardScaler
from entropy_attention_jax.data.series import Series, SeriesInfo
from entropy_attention_jax.data.windows import SPLIT_NAMES, normalize_split_ratios, split_windows

Batch = dict[str, np.ndarray]
TIME_FEATURES: tuple[str, str] = ("time_of_day", "day_of_week")


def _channel_view(values: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
  """`values[..., channels]`: a view when the channels are contiguous (default)."""
  if channels == tuple(range(channels[0], channels[-1] + 1)):
    return values[:, :, channels[0] : channels[-1] + 1]
  return values[:, :, list(channels)]


class _WindowSource:
  """Gathers `(x, y)` samples of given window starts from one series.

  Args:
    series: the series.
    inputs: `[steps, nodes, k]` input channels of `series.values`.
    scaler: z-score of the `k` input channels.
    in_steps: input steps per sample.
    out_steps: target steps per sample.
  """

  def __init__(
      self,
      series: Series,
      inputs: np.ndarray,
      scaler: StandardScaler,
      in_steps: int,
      out_steps: int,
  ):
    self.inputs = inputs
    self.target = series.values[:, :, 0:1]
    self.time_of_day = series.time_of_day()
    self.day_of_week = series.day_of_week()
    self.scaler = scaler
    self.in_steps = in_steps
    self.out_steps = out_steps

  @property
  def num_inputs(self) -> int:
    return self.inputs.shape[-1]

  def gather(self, starts: np.ndarray) -> Batch:
    """`x` `[len(starts), in_steps, nodes, k + 2]`, `y` `[len(starts), out_steps, nodes, 1]`."""
    k = self.num_inputs
    input_steps = starts[:, None] + np.arange(self.in_steps)
    target_steps = starts[:, None] + np.arange(self.in_steps, self.in_steps + self.out_steps)
    x = np.empty((*input_steps.shape, self.inputs.shape[1], k + 2), np.float32)
    np.subtract(self.inputs[input_steps], self.scaler.mean, out=x[..., :k])
    x[..., :k] /= self.scaler.std
    x[..., k] = self.time_of_day[input_steps][:, :, None]
    x[..., k + 1] = self.day_of_week[input_steps][:, :, None]
    return {"x": x, "y": self.target[target_steps]}


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
    """Sample `index`: `x` `[in_steps, nodes, k + 2]`, `y` `[out_steps, nodes, 1]`."""
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
  """A series cut into train/val/test forecasting windows, with its scaler.

  Attributes:
    series: the whole series (`series.values` `[steps, nodes, channels]`).
    train: training windows.
    val: validation windows.
    test: test windows.
    scaler: z-score of the input channels, fit on the training inputs.
    in_steps: input steps per sample.
    out_steps: predicted steps per sample.
    input_channels: series channels fed as inputs, target (0) first.
    split_ratios: `(train, val, test)` fractions used.
    boundaries: first steps `(b1, b2)` of the validation and test periods.
    options: the loading arguments (JSON-serialisable), to store with a run
      so that `load_forecasting_data(**options)` rebuilds the same data.
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
  def num_input_channels(self) -> int:
    """k, the value channels at the front of `x` (1 = the signal only)."""
    return len(self.input_channels)

  @property
  def num_features(self) -> int:
    """Size of the last axis of `x`: k value channels + time of day + day of week."""
    return self.num_input_channels + len(TIME_FEATURES)

  @property
  def time_of_day_index(self) -> int:
    """Position of the time-of-day fraction in the last axis of `x`."""
    return self.num_input_channels

  @property
  def day_of_week_index(self) -> int:
    """Position of the day-of-week index in the last axis of `x`."""
    return self.num_input_channels + 1

  @property
  def splits(self) -> dict[str, WindowSplit]:
    return {"train": self.train, "val": self.val, "test": self.test}


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


def make_forecasting_data(
    series: Series,
    *,
    in_steps: int = 12,
    out_steps: int = 12,
    split_ratios: Sequence[float] | None = None,
    input_channels: Sequence[int | str] = (0,),
    scaler_ignore_zeros: bool = False,
    batch_size: int = 16,
    options: Mapping[str, Any] | None = None,
) -> ForecastingData:
  """Cuts a series into forecasting splits and fits the scaler.

  Args:
    series: the whole series.
    in_steps: input steps per sample.
    out_steps: predicted steps per sample.
    split_ratios: `(train, val, test)` fractions; `None` uses the dataset's
      default (`series.info.default_split_ratios`).
    input_channels: channels (indices or names) fed as inputs; must start with
      0, the target. Default: the target only.
    scaler_ignore_zeros: fit the scaler without exact zeros (missing
      readings); default False keeps them, as STAEformer does.
    batch_size: default batch size of the splits.
    options: loading arguments to record in `ForecastingData.options`.

  Returns:
    The `ForecastingData`.

  Raises:
    DataError: too short a series for one window or for a split, bad ratios,
      channels or sizes.
  """
  info = series.info
  batch_size = check_integer("batch_size", batch_size, 1)
  ratios = normalize_split_ratios(
      info.default_split_ratios if split_ratios is None else split_ratios
  )
  windows = split_windows(info.num_steps, in_steps, out_steps, ratios)
  channels = _channel_indices(info, input_channels)
  inputs = _channel_view(series.values, channels)
  # The training windows read steps [0, last start + in_steps) as inputs.
  fit_end = int(windows.train[-1]) + in_steps
  scaler = StandardScaler.fit(
      inputs[:fit_end],
      ignore_zeros=scaler_ignore_zeros,
      channel_names=[info.channel_names[c] for c in channels],
  )
  source = _WindowSource(series, inputs, scaler, in_steps, out_steps)
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
      **splits,
  )


def load_forecasting_data(
    name: str,
    data_dir: str | pathlib.Path,
    *,
    in_steps: int = 12,
    out_steps: int = 12,
    split_ratios: Sequence[float] | None = None,
    input_channels: Sequence[int | str] = (0,),
    scaler_ignore_zeros: bool = False,
    batch_size: int = 16,
    build_if_missing: bool = True,
    manual_dir: str | pathlib.Path | None = None,
    **builder_options: Any,
) -> ForecastingData:
  """Loads a built dataset (building it first if needed) as forecasting splits.

  Args:
    name: a dataset name (`registry.dataset_names()`), e.g. `"synthetic_traffic"`.
    data_dir: where datasets are built (TFDS `data_dir`).
    in_steps: input steps per sample.
    out_steps: predicted steps per sample.
    split_ratios: `(train, val, test)` fractions; `None` uses the dataset's
      default (6:2:2 PEMS0x and synthetic, 7:1:2 the others).
    input_channels: channels (indices or names) fed as inputs, target first.
    scaler_ignore_zeros: fit the scaler without zeros (missing readings).
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
      name, data_dir, manual_dir=manual_dir, build_if_missing=build_if_missing, **builder_options
  )
  return make_forecasting_data(
      series,
      in_steps=in_steps,
      out_steps=out_steps,
      split_ratios=split_ratios,
      input_channels=input_channels,
      scaler_ignore_zeros=scaler_ignore_zeros,
      batch_size=batch_size,
      options={
          "name": name,
          "data_dir": str(data_dir),
          **{k: v for k, v in builder_options.items() if v is not None},
      },
  )
