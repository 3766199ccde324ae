"""One time-ordered multivariate series on a regular time grid, and its facts.

Every dataset in this package is stored as ONE series `[steps, nodes, channels]`
(channel 0 is the forecast target, e.g. traffic flow), optional covariates
`[steps, covariates]` shared by all nodes, plus a `SeriesInfo`: time grid
(`calendar.TimeGrid`), node ids, channel and covariate names, and how missing
values are marked. Splits, windows and scaling are computed from it at load
time (`windows.py`, `forecasting.py`).

Missing values. NaN always marks a missing value. Datasets whose convention
marks missing readings with a value (PeMS, METR-LA and PEMS-BAY store 0) set
`missing_value`; their zeros are then missing too. Infinite values are never
accepted, nor values too large for float32 metrics (|x| > 1e15).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from entropy_attention_jax.data.calendar import SECONDS_PER_DAY, TimeGrid
from entropy_attention_jax.data.errors import DataError
from entropy_attention_jax.data.windows import normalize_split_ratios

# Steps per block when scanning a series, to keep temporaries small.
_SCAN_STEPS = 256
# Largest magnitude accepted: its square summed over many entries still fits
# float32 (3.4e38), so errors and metrics stay finite.
MAX_ABS_VALUE = 1e15


@dataclasses.dataclass(frozen=True)
class SeriesInfo:
  """Facts about a stored series; JSON-serialisable through `to_metadata`.

  Attributes:
    name: dataset name, e.g. `"pems04"`.
    start: wall-clock time of step 0, `numpy.datetime64` in seconds (naive
      local time).
    step_seconds: seconds between consecutive steps (a divisor of a day, or
      whole days); 0 for a calendar `frequency`.
    num_steps: number of steps `T` (including `future_steps`).
    channel_names: one name per channel; channel 0 is the forecast target.
    node_ids: one id per node (sensor ids, station names), unique.
    default_split_ratios: `(train, val, test)` fractions used when a loader is
      not given any.
    description: what the data is and where it came from.
    extra: further JSON-serialisable facts (generator settings, source file
      digests, counts of missing readings per channel).
    config_name: TFDS builder-config name, when loaded from a built dataset.
    data_path: directory of the built dataset, when loaded from one.
    frequency: calendar frequency alias (``"MS"``, ``"QE-DEC"``, ...) when
      the steps are months, quarters or years; None for a fixed step.
    timezone: time zone of tz-aware timestamps (IANA name or ``"+01:00"``).
    utc_offsets: run-length UTC offsets of tz-aware timestamps
      (see `calendar.TimeGrid`).
    missing_value: a value that marks missing readings besides NaN (0.0 in
      the traffic benchmarks); None: only NaN is missing, zeros are real.
    covariate_names: names of the covariate series (inputs only, never
      forecast), in the order of `Series.covariates`.
    known_future: the covariates whose future values are known (calendars,
      holidays, plans); the others are observed only up to the forecast origin.
    future_steps: trailing steps with no target observed, which hold the
      known-future covariates of the steps to forecast; no window targets them.
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
  frequency: str | None = None
  timezone: str | None = None
  utc_offsets: tuple[tuple[int, int], ...] = ()
  missing_value: float | None = None
  covariate_names: tuple[str, ...] = ()
  known_future: tuple[str, ...] = ()
  future_steps: int = 0

  def __post_init__(self):
    object.__setattr__(self, "start", np.datetime64(self.start, "s"))
    object.__setattr__(self, "channel_names", tuple(str(c) for c in self.channel_names))
    object.__setattr__(self, "node_ids", tuple(str(n) for n in self.node_ids))
    object.__setattr__(self, "covariate_names", tuple(str(c) for c in self.covariate_names))
    object.__setattr__(self, "known_future", tuple(str(c) for c in self.known_future))
    object.__setattr__(
        self, "utc_offsets", tuple((int(a), int(b)) for a, b in self.utc_offsets)
    )
    object.__setattr__(
        self, "default_split_ratios", normalize_split_ratios(self.default_split_ratios)
    )
    if np.isnat(self.start):
      raise DataError(f"{self.name}: the start time is missing (NaT).")
    try:
      self.grid  # Validates the step or frequency.
    except DataError as e:
      raise DataError(f"{self.name}: {e}") from None
    if self.num_steps < 1:
      raise DataError(f"{self.name}: the series has no steps.")
    if not self.channel_names or not self.node_ids:
      raise DataError(
          f"{self.name}: needs at least one channel and one node, got"
          f" {len(self.channel_names)} channels and {len(self.node_ids)} nodes."
      )
    for what, names in (("node id", self.node_ids),
                        ("column", self.node_ids + self.covariate_names)):
      if len(set(names)) != len(names):
        seen: set[str] = set()
        duplicate = next(n for n in names if n in seen or seen.add(n))
        raise DataError(f"{self.name}: {what} {duplicate!r} appears more than once.")
    unknown = sorted(set(self.known_future) - set(self.covariate_names))
    if unknown:
      raise DataError(f"{self.name}: known-future covariates {unknown} are not covariates.")
    if not 0 <= self.future_steps < self.num_steps:
      raise DataError(
          f"{self.name}: future_steps={self.future_steps} must be in [0, {self.num_steps})."
      )

  @property
  def grid(self) -> TimeGrid:
    """The time grid (`calendar.TimeGrid`)."""
    return TimeGrid(
        start=self.start, step_seconds=int(self.step_seconds), frequency=self.frequency,
        timezone=self.timezone, utc_offsets=self.utc_offsets,
    )

  @property
  def num_nodes(self) -> int:
    return len(self.node_ids)

  @property
  def num_channels(self) -> int:
    return len(self.channel_names)

  @property
  def num_covariates(self) -> int:
    return len(self.covariate_names)

  @property
  def observed_steps(self) -> int:
    """Steps with targets: `num_steps - future_steps` (windows are cut from these)."""
    return self.num_steps - self.future_steps

  @property
  def steps_per_day(self) -> int:
    """Steps in a day for sub-daily data; 1 for daily and coarser data."""
    return self.grid.steps_per_day

  @property
  def end(self) -> np.datetime64:
    """Wall-clock time of the last step."""
    return self.grid.local_times(np.array([self.num_steps - 1]))[0]

  def timestamps(self) -> np.ndarray:
    """`[steps]` `datetime64[s]` wall-clock time of every step."""
    return self.grid.local_times(np.arange(self.num_steps))

  def time_of_day(self) -> np.ndarray:
    """`[steps]` float32 fraction of the (local) day elapsed at each step, in `[0, 1)`."""
    return self.grid.feature("time_of_day", np.arange(self.num_steps))

  def day_of_week(self) -> np.ndarray:
    """`[steps]` float32 (local) weekday of each step, Monday = 0 ... Sunday = 6."""
    return self.grid.feature("day_of_week", np.arange(self.num_steps))

  def is_missing(self, values: np.ndarray) -> np.ndarray:
    """Bool mask of missing entries of `values` (NaN, or `missing_value`)."""
    missing = np.isnan(values)
    if self.missing_value is not None:
      missing |= values == self.missing_value
    return missing

  def describe_position(
      self, step: int, node: int | None = None, channel: int | None = None
  ) -> str:
    """Human-readable position, e.g. `step 17 (2018-01-01 01:25:00), node '3'`."""
    where = f"step {step} ({self.grid.format(np.array([step]))[0]})"
    if node is not None:
      if node < self.num_nodes:
        where += f", node {node} (id {self.node_ids[node]!r})"
      else:
        where += f", covariate {self.covariate_names[node - self.num_nodes]!r}"
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
        "frequency": self.frequency,
        "timezone": self.timezone,
        "utc_offsets": [list(pair) for pair in self.utc_offsets],
        "missing_value": self.missing_value,
        "covariate_names": list(self.covariate_names),
        "known_future": list(self.known_future),
        "future_steps": int(self.future_steps),
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
        frequency=metadata.get("frequency"),
        timezone=metadata.get("timezone"),
        utc_offsets=tuple(tuple(p) for p in metadata.get("utc_offsets", ())),
        missing_value=metadata.get("missing_value"),
        covariate_names=tuple(metadata.get("covariate_names", ())),
        known_future=tuple(metadata.get("known_future", ())),
        future_steps=int(metadata.get("future_steps", 0)),
    )


@dataclasses.dataclass(frozen=True)
class Series:
  """A checked series: float32 values on the grid `info` describes.

  Attributes:
    values: `[steps, nodes, channels]` float32; NaN (and `info.missing_value`)
      marks missing readings; never infinite.
    info: the series' `SeriesInfo`.
    covariates: `[steps, covariates]` float32 inputs shared by all nodes
      (`info.covariate_names`); `[steps, 0]` when there are none.
  """

  values: np.ndarray
  info: SeriesInfo
  covariates: np.ndarray | None = None

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
    covariates = (
        np.zeros((self.info.num_steps, 0), np.float32) if self.covariates is None
        else np.asarray(self.covariates, np.float32)
    )
    if covariates.shape != (self.info.num_steps, self.info.num_covariates):
      raise DataError(
          f"{self.info.name}: covariates have shape {covariates.shape}, expected"
          f" [steps, covariates] = [{self.info.num_steps}, {self.info.num_covariates}]."
      )
    object.__setattr__(self, "values", values.astype(np.float32, copy=False))
    object.__setattr__(self, "covariates", covariates)
    check_finite(self.values, self.info)
    check_finite(self.covariates[:, :, None], self.info, first_node=self.info.num_nodes)
    known = [self.info.covariate_names.index(c) for c in self.info.known_future]
    future = self.covariates[self.info.observed_steps :, known]
    if future.size and np.isnan(future).any():
      step, column = np.argwhere(np.isnan(future))[0]
      raise DataError(
          f"{self.info.name}: the known-future covariate {self.info.known_future[column]!r} is"
          f" missing at {self.info.describe_position(self.info.observed_steps + int(step))},"
          " a step to forecast; known-future values must be given for every future row."
      )

  def time_of_day(self) -> np.ndarray:
    return self.info.time_of_day()

  def day_of_week(self) -> np.ndarray:
    return self.info.day_of_week()

  def missing_counts(self) -> dict[str, int]:
    """Missing entries per channel (NaN or `missing_value`) over the observed steps."""
    counts = np.zeros(self.info.num_channels, np.int64)
    for begin in range(0, self.info.observed_steps, _SCAN_STEPS):
      end = min(begin + _SCAN_STEPS, self.info.observed_steps)
      counts += self.info.is_missing(self.values[begin:end]).sum(axis=(0, 1))
    return dict(zip(self.info.channel_names, counts.tolist()))


def check_finite(
    values: np.ndarray, info: SeriesInfo, first_step: int = 0, first_node: int = 0
) -> None:
  """Raises a `DataError` naming the first infinite or unrepresentably large value.

  NaN is allowed (it marks a missing value).

  Args:
    values: `[steps, columns, channels]` block of a series.
    info: the series' facts, for the message.
    first_step: index of `values[0]` in the whole series.
    first_node: column index of `values[:, 0]` (nodes first, then covariates).

  Raises:
    DataError: some value is infinite or larger in magnitude than 1e15.
  """
  first_bad = None
  num_bad = 0
  for begin in range(0, values.shape[0], _SCAN_STEPS):
    block = np.abs(values[begin : begin + _SCAN_STEPS])
    bad = np.isinf(block) | (block > MAX_ABS_VALUE)
    count = int(bad.sum())
    if count and first_bad is None:
      step, node, channel = np.argwhere(bad)[0]
      first_bad = (begin + int(step), int(node), int(channel))
    num_bad += count
  if first_bad is not None:
    step, node, channel = first_bad
    value = values[step, node, channel]
    what = "infinite" if np.isinf(value) else f"larger than {MAX_ABS_VALUE:g} in magnitude"
    raise DataError(
        f"{info.name}: {num_bad} value(s) {what}; the first is {value} at"
        f" {info.describe_position(first_step + step, first_node + node, channel)}."
        " Such values overflow float32 errors and metrics: rescale the column (other"
        " units) or mark the value missing (empty cell / NaN)."
    )
