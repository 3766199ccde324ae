"""One time-ordered multivariate series on a regular time grid, and its facts.

Every dataset in this package is stored as ONE series `[steps, nodes, channels]`
(channel 0 is the forecast target, e.g. traffic flow) plus a `SeriesInfo`:
start time, step size, node ids, channel names. Splits, windows and scaling are
computed from it at load time (`windows.py`, `forecasting.py`).

Timestamps are naive local wall-clock times (as PeMS publishes them), so
time-of-day and day-of-week features follow the clock the traffic follows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from entropy_attention_jax.data.errors import DataError
from entropy_attention_jax.data.windows import normalize_split_ratios

SECONDS_PER_DAY = 86_400
# 1970-01-01, day 0 of numpy's datetime64 epoch, was a Thursday (Monday = 0).
_EPOCH_WEEKDAY = 3
# Steps per block when scanning a series, to keep temporaries small.
_SCAN_STEPS = 256


@dataclasses.dataclass(frozen=True)
class SeriesInfo:
  """Facts about a stored series; JSON-serialisable through `to_metadata`.

  Attributes:
    name: dataset name, e.g. `"pems04"`.
    start: time of step 0, `numpy.datetime64` in seconds (naive local time).
    step_seconds: seconds between consecutive steps; must divide a day.
    num_steps: number of steps `T`.
    channel_names: one name per channel; channel 0 is the forecast target.
    node_ids: one id per node (sensor ids, station names), unique.
    default_split_ratios: `(train, val, test)` fractions used when a loader is
      not given any.
    description: what the data is and where it came from.
    extra: further JSON-serialisable facts (generator settings, source file
      digests, counts of zero readings per channel).
    config_name: TFDS builder-config name, when loaded from a built dataset.
    data_path: directory of the built dataset, when loaded from one.
  """

  name: str
  start: np.datetime64
  step_seconds: int
  num_steps: int
  channel_names: tuple[str, ...]
  node_ids: tuple[str, ...]
  default_split_ratios: tuple[float, float, float]
  description: str = ""
  extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  config_name: str | None = None
  data_path: str | None = None

  def __post_init__(self):
    object.__setattr__(self, "start", np.datetime64(self.start, "s"))
    object.__setattr__(self, "channel_names", tuple(str(c) for c in self.channel_names))
    object.__setattr__(self, "node_ids", tuple(str(n) for n in self.node_ids))
    object.__setattr__(
        self, "default_split_ratios", normalize_split_ratios(self.default_split_ratios)
    )
    if np.isnat(self.start):
      raise DataError(f"{self.name}: the start time is missing (NaT).")
    if (
        int(self.step_seconds) != self.step_seconds
        or self.step_seconds <= 0
        or SECONDS_PER_DAY % self.step_seconds
    ):
      raise DataError(
          f"{self.name}: the step must be a whole number of seconds that divides"
          f" a day (300 for 5-minute data, 86400 for daily), got {self.step_seconds}."
      )
    if self.num_steps < 1:
      raise DataError(f"{self.name}: the series has no steps.")
    if not self.channel_names or not self.node_ids:
      raise DataError(
          f"{self.name}: needs at least one channel and one node, got"
          f" {len(self.channel_names)} channels and {len(self.node_ids)} nodes."
      )
    if len(set(self.node_ids)) != len(self.node_ids):
      seen: set[str] = set()
      duplicate = next(n for n in self.node_ids if n in seen or seen.add(n))
      raise DataError(f"{self.name}: node id {duplicate!r} appears more than once.")

  @property
  def num_nodes(self) -> int:
    return len(self.node_ids)

  @property
  def num_channels(self) -> int:
    return len(self.channel_names)

  @property
  def steps_per_day(self) -> int:
    return SECONDS_PER_DAY // int(self.step_seconds)

  @property
  def end(self) -> np.datetime64:
    """Time of the last step."""
    return self.start + np.timedelta64(int(self.step_seconds) * (self.num_steps - 1), "s")

  def timestamps(self) -> np.ndarray:
    """`[steps]` `datetime64[s]` time of every step."""
    offsets = np.arange(self.num_steps, dtype=np.int64) * int(self.step_seconds)
    return self.start + offsets.astype("timedelta64[s]")

  def time_of_day(self) -> np.ndarray:
    """`[steps]` float32 fraction of the day elapsed at each step, in `[0, 1)`."""
    seconds = self.timestamps().astype(np.int64) % SECONDS_PER_DAY
    return (seconds / SECONDS_PER_DAY).astype(np.float32)

  def day_of_week(self) -> np.ndarray:
    """`[steps]` float32 weekday of each step, Monday = 0 ... Sunday = 6."""
    days = self.timestamps().astype(np.int64) // SECONDS_PER_DAY
    return ((days + _EPOCH_WEEKDAY) % 7).astype(np.float32)

  def describe_position(
      self, step: int, node: int | None = None, channel: int | None = None
  ) -> str:
    """Human-readable position, e.g. `step 17 (2018-01-01T01:25:00), node '3'`."""
    where = f"step {step} ({self.start + np.timedelta64(int(self.step_seconds) * step, 's')})"
    if node is not None:
      where += f", node {node} (id {self.node_ids[node]!r})"
    if channel is not None:
      where += f", channel {channel} ({self.channel_names[channel]!r})"
    return where

  def to_metadata(self) -> dict[str, Any]:
    """JSON-serialisable dict (stored with a built dataset)."""
    return {
        "name": self.name,
        "start": str(self.start),
        "step_seconds": int(self.step_seconds),
        "num_steps": int(self.num_steps),
        "channel_names": list(self.channel_names),
        "node_ids": list(self.node_ids),
        "default_split_ratios": list(self.default_split_ratios),
        "description": self.description,
        "extra": dict(self.extra),
    }

  @classmethod
  def from_metadata(
      cls,
      metadata: Mapping[str, Any],
      *,
      config_name: str | None = None,
      data_path: str | None = None,
  ) -> SeriesInfo:
    """Inverse of `to_metadata`."""
    fields = (
        "name", "start", "step_seconds", "num_steps", "channel_names", "node_ids",
        "default_split_ratios",
    )
    missing = [f for f in fields if f not in metadata]
    if missing:
      raise DataError(
          f"Dataset metadata at {data_path or '?'} lacks {missing}; it was not"
          " built by this package's builders (or by an older version). Rebuild it."
      )
    return cls(
        name=metadata["name"],
        start=np.datetime64(metadata["start"], "s"),
        step_seconds=int(metadata["step_seconds"]),
        num_steps=int(metadata["num_steps"]),
        channel_names=tuple(metadata["channel_names"]),
        node_ids=tuple(metadata["node_ids"]),
        default_split_ratios=tuple(metadata["default_split_ratios"]),
        description=metadata.get("description", ""),
        extra=dict(metadata.get("extra", {})),
        config_name=config_name,
        data_path=data_path,
    )


@dataclasses.dataclass(frozen=True)
class Series:
  """A checked series: finite float32 values on the grid `info` describes.

  Attributes:
    values: `[steps, nodes, channels]` float32; zeros mark missing readings
      (the PeMS convention), never NaN.
    info: the series' `SeriesInfo`.
  """

  values: np.ndarray
  info: SeriesInfo

  def __post_init__(self):
    values = np.asarray(self.values)
    if values.ndim != 3:
      raise DataError(
          f"{self.info.name}: values must be [steps, nodes, channels], got shape"
          f" {values.shape}."
      )
    expected = (self.info.num_steps, self.info.num_nodes, self.info.num_channels)
    if values.shape != expected:
      raise DataError(
          f"{self.info.name}: values have shape {values.shape} but the metadata"
          f" says [steps, nodes, channels] = {list(expected)}."
      )
    if not np.issubdtype(values.dtype, np.number):
      raise DataError(f"{self.info.name}: values must be numeric, got dtype {values.dtype}.")
    object.__setattr__(self, "values", values.astype(np.float32, copy=False))
    check_finite(self.values, self.info)

  def time_of_day(self) -> np.ndarray:
    return self.info.time_of_day()

  def day_of_week(self) -> np.ndarray:
    return self.info.day_of_week()


def check_finite(values: np.ndarray, info: SeriesInfo, first_step: int = 0) -> None:
  """Raises a `DataError` naming the first NaN/inf reading and their count.

  Args:
    values: `[steps, nodes, channels]` block of a series.
    info: the series' facts, for the message.
    first_step: index of `values[0]` in the whole series.

  Raises:
    DataError: some value is NaN or infinite.
  """
  first_bad = None
  num_bad = 0
  for begin in range(0, values.shape[0], _SCAN_STEPS):
    bad = ~np.isfinite(values[begin : begin + _SCAN_STEPS])
    count = int(bad.sum())
    if count and first_bad is None:
      step, node, channel = np.argwhere(bad)[0]
      first_bad = (begin + int(step), int(node), int(channel))
    num_bad += count
  if first_bad is not None:
    step, node, channel = first_bad
    raise DataError(
        f"{info.name}: {num_bad} NaN/inf value(s); the first is"
        f" {values[step, node, channel]} at"
        f" {info.describe_position(first_step + step, node, channel)}."
        " Fill or remove them before building (missing readings are"
        " conventionally stored as 0); the builders never fill silently."
    )

