"""The time grid of a series: its frequency, time zone and calendar features.

A series is one row per step on a regular grid. The grid is either a fixed
step (`step_seconds`: 5 minutes, an hour, a day, a week, ...) or a calendar
frequency whose steps differ in length (`frequency`: pandas' offset aliases
``"MS"``/``"ME"`` for months, ``"QS-JAN"``/``"QE-DEC"`` for quarters,
``"YS-JAN"``/``"YE-DEC"`` for years).

Time zones. Calendar features (time of day, day of week, month of year) follow
the wall clock of the timestamps' own time zone, so a morning peak stays at
08:00 across a daylight-saving switch. The grid itself is checked where it is
regular: sub-daily steps on the absolute (UTC) clock — a DST switch is not a
gap — and steps of a day or longer on the local calendar (a day across a DST
switch is 23 or 25 hours long). tz-aware timestamps keep their UTC offsets as
a run-length list, `utc_offsets = ((first_step, seconds), ...)`; an IANA zone
name (a tz-aware Parquet column) also gives the offsets of future steps,
fixed offsets in text (``+01:00`` then ``+02:00``) extend with the last one.

Naive timestamps are taken as local wall-clock time (as PeMS publishes them).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence

import numpy as np

from entropy_attention_jax.data.errors import DataError

SECONDS_PER_DAY = 86_400
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY
# 1970-01-01, day 0 of numpy's datetime64 epoch, was a Thursday (Monday = 0).
_EPOCH_WEEKDAY = 3
CALENDAR_FEATURES: tuple[str, ...] = ("time_of_day", "day_of_week", "month_of_year")
# Pandas offset aliases of calendar frequencies (months, quarters, years), by base.
_CALENDAR_BASES: dict[str, int] = {"MS": 1, "ME": 1, "QS": 3, "QE": 3, "YS": 12, "YE": 12}
_OFFSET_PATTERN = re.compile(r"(?:([+-])(\d{2}):?(\d{2})|(Z))$")


@dataclasses.dataclass(frozen=True)
class TimeGrid:
  """Where each step of a series lies in time.

  Attributes:
    start: wall-clock (local) time of step 0, `datetime64[s]`, naive.
    step_seconds: the fixed step in seconds; 0 for a calendar frequency.
    frequency: pandas offset alias of a calendar frequency (``"MS"``, ...),
      None for a fixed step.
    timezone: IANA zone name or fixed offset (``"+01:00"``) of tz-aware
      timestamps; None for naive ones.
    utc_offsets: `((first_step, offset_seconds), ...)` run-length UTC offsets
      of tz-aware timestamps (offset = local - UTC); empty for naive ones.
  """

  start: np.datetime64
  step_seconds: int = 0
  frequency: str | None = None
  timezone: str | None = None
  utc_offsets: tuple[tuple[int, int], ...] = ()

  def __post_init__(self):
    object.__setattr__(self, "start", np.datetime64(self.start, "s"))
    object.__setattr__(
        self, "utc_offsets", tuple((int(a), int(b)) for a, b in self.utc_offsets)
    )
    if self.frequency is None:
      if int(self.step_seconds) != self.step_seconds or self.step_seconds <= 0:
        raise DataError(f"the step must be a positive whole number of seconds, got {self.step_seconds}.")
      if self.step_seconds < SECONDS_PER_DAY and SECONDS_PER_DAY % self.step_seconds:
        raise DataError(
            f"a step shorter than a day must divide a day (300 s for 5-minute data, 3600 s"
            f" hourly), got {self.step_seconds} s."
        )
      if self.step_seconds > SECONDS_PER_DAY and self.step_seconds % SECONDS_PER_DAY:
        raise DataError(
            f"a step longer than a day must be whole days, got {self.step_seconds} s."
        )
    elif calendar_months(self.frequency) is None:
      raise DataError(
          f"unknown calendar frequency {self.frequency!r}; expected a month, quarter or year"
          " alias such as 'MS', 'ME', 'QS-JAN' or 'YE-DEC'."
      )

  @property
  def sub_daily(self) -> bool:
    return self.frequency is None and self.step_seconds < SECONDS_PER_DAY

  @property
  def steps_per_day(self) -> int:
    """Steps in a day for sub-daily grids; 1 otherwise."""
    return SECONDS_PER_DAY // int(self.step_seconds) if self.sub_daily else 1

  @property
  def features(self) -> tuple[str, ...]:
    """The calendar features that vary on this grid (see :data:`CALENDAR_FEATURES`).

    Time of day only below a day, day of week at a day or finer, month of year
    from a day up to a quarter.
    """
    if self.sub_daily:
      return ("time_of_day", "day_of_week")
    if self.frequency is None and self.step_seconds == SECONDS_PER_DAY:
      return ("day_of_week", "month_of_year")
    months = calendar_months(self.frequency) if self.frequency else None
    if months is not None and months >= 12:
      return ()
    return ("month_of_year",)

  @property
  def seasonal_period(self) -> int:
    """Steps in the main cycle: a day below a day, else a week, a year; 1 if none."""
    if self.sub_daily:
      return self.steps_per_day
    if self.frequency is None:
      days = self.step_seconds // SECONDS_PER_DAY
      if days == 1:
        return 7
      return max(1, round(365.25 / days)) if days < 365 else 1
    months = calendar_months(self.frequency)
    return 12 // months if months < 12 else 1

  def describe(self) -> str:
    """E.g. ``"every 300 s"``, ``"monthly (MS)"``, plus the time zone."""
    if self.frequency is not None:
      months = calendar_months(self.frequency)
      what = {1: "monthly", 3: "quarterly", 12: "yearly"}.get(months, f"every {months} months")
      text = f"{what} ({self.frequency})"
    else:
      text = f"every {self.step_seconds} s"
    return text + (f", time zone {self.timezone}" if self.timezone else "")

  def offset_at(self, steps: np.ndarray) -> np.ndarray:
    """`[n]` int64 UTC offset (seconds) of each step; 0 for naive grids.

    Steps past the data take the IANA zone's offset where the zone is known,
    else the last offset.
    """
    steps = np.asarray(steps, np.int64)
    if not self.utc_offsets:
      return np.zeros(steps.shape, np.int64)
    firsts = np.array([a for a, _ in self.utc_offsets], np.int64)
    values = np.array([b for _, b in self.utc_offsets], np.int64)
    return values[np.maximum(np.searchsorted(firsts, steps, side="right") - 1, 0)]

  def local_times(self, steps: np.ndarray) -> np.ndarray:
    """`[n]` `datetime64[s]` wall-clock time of each step (any step, also future ones)."""
    return self._local_times_and_offsets(np.asarray(steps, np.int64))[0]

  def _local_times_and_offsets(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(local times, UTC offsets in seconds)` of `steps`; offsets 0 for naive grids."""
    if self.frequency is not None:
      import pandas as pd  # pylint: disable=g-import-not-at-top

      last = int(steps.max(initial=0))
      grid = pd.date_range(pd.Timestamp(self.start), periods=last + 1, freq=self.frequency)
      return grid.to_numpy().astype("datetime64[s]")[steps], self.offset_at(steps)
    elapsed = (steps * int(self.step_seconds)).astype("timedelta64[s]")
    if self.sub_daily and self.utc_offsets:
      # Regular on the absolute clock: local = UTC + that step's offset.
      utc = self.start - np.timedelta64(int(self.utc_offsets[0][1]), "s") + elapsed
      offsets = self._future_aware_offsets(steps, utc)
      return utc + offsets.astype("timedelta64[s]"), offsets
    return self.start + elapsed, self.offset_at(steps)

  def _future_aware_offsets(self, steps: np.ndarray, utc: np.ndarray) -> np.ndarray:
    offsets = self.offset_at(steps)
    known_until = self.utc_offsets[-1][0]
    if self.timezone and "/" in self.timezone and np.any(steps > known_until):
      import pandas as pd  # pylint: disable=g-import-not-at-top

      aware = pd.DatetimeIndex(utc).tz_localize("UTC").tz_convert(self.timezone)
      zone_offsets = (aware.tz_localize(None) - pd.DatetimeIndex(utc)).total_seconds()
      future = steps > known_until
      offsets = np.where(future, np.asarray(zone_offsets, np.int64), offsets)
    return offsets

  def feature(self, name: str, steps: np.ndarray) -> np.ndarray:
    """`[n]` float32 values of a calendar feature at `steps`.

    ``time_of_day``: fraction of the day in `[0, 1)`; ``day_of_week``: 0..6,
    Monday = 0; ``month_of_year``: 0..11, January = 0.
    """
    local = self.local_times(steps)
    if name == "time_of_day":
      seconds = local.astype(np.int64) % SECONDS_PER_DAY
      return (seconds / SECONDS_PER_DAY).astype(np.float32)
    if name == "day_of_week":
      days = local.astype("datetime64[D]").astype(np.int64)
      return ((days + _EPOCH_WEEKDAY) % 7).astype(np.float32)
    if name == "month_of_year":
      months = local.astype("datetime64[M]").astype(np.int64)
      return (months % 12).astype(np.float32)
    raise DataError(f"unknown calendar feature {name!r}; expected one of {list(CALENDAR_FEATURES)}.")

  def format(self, steps: np.ndarray) -> list[str]:
    """ISO text of each step's local time, with its UTC offset when tz-aware.

    Date only (``2024-03-01``) for grids of a day or longer.
    """
    local, offsets = self._local_times_and_offsets(np.asarray(steps, np.int64))
    date_only = not self.sub_daily and not np.any(local.astype(np.int64) % SECONDS_PER_DAY)
    unit = "D" if date_only else "s"
    text = np.datetime_as_string(local, unit=unit)
    if not date_only:
      text = np.char.replace(text, "T", " ")
    if not self.utc_offsets:
      return text.tolist()
    return [f"{t}{_format_offset(o)}" for t, o in zip(text.tolist(), offsets.tolist())]

  def to_metadata(self) -> dict:
    return {
        "start": str(self.start),
        "step_seconds": int(self.step_seconds),
        "frequency": self.frequency,
        "timezone": self.timezone,
        "utc_offsets": [list(pair) for pair in self.utc_offsets],
    }


def _format_offset(seconds: int) -> str:
  sign = "+" if seconds >= 0 else "-"
  minutes = abs(int(seconds)) // 60
  return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def calendar_months(frequency: str | None) -> int | None:
  """Months per step of a calendar alias (``"MS"`` 1, ``"QS-JAN"`` 3, ``"2MS"`` 2); None if not one."""
  if not frequency:
    return None
  match = re.fullmatch(r"(\d*)([A-Z]+)(?:-[A-Z]{3})?", frequency)
  if match is None or match.group(2) not in _CALENDAR_BASES:
    return None
  return int(match.group(1) or 1) * _CALENDAR_BASES[match.group(2)]


def default_window(grid: TimeGrid) -> tuple[int, int]:
  """Default `(in_steps, out_steps)` for a grid: at least one seasonal period of history.

  Sub-daily: a day ahead at most 24 steps, two days of history for hourly or
  coarser steps, one day for finer ones (at most 288 steps); daily: 4 weeks ->
  1 week; weekly: a year -> 8 weeks; monthly: 2 years -> 1 year; quarterly: 3
  years -> 1 year; yearly: 8 -> 4.
  """
  period = grid.seasonal_period
  if grid.sub_daily:
    out_steps = min(period, 24)
    return (min(2 * period if period <= 24 else period, 288), out_steps)
  if period == 7:
    return 28, 7
  if period == 1:
    return 8, 4
  if period <= 4:
    return 3 * period, period
  if period == 12:
    return 24, 12
  return period, min(period, 8)


def _utc_offsets_of_text(texts: Sequence[str], source: str) -> np.ndarray:
  """Seconds east of UTC of each ISO timestamp text (``...+01:00``, ``...Z``)."""
  offsets = np.empty(len(texts), np.int64)
  for row, text in enumerate(texts):
    match = _OFFSET_PATTERN.search(str(text).strip())
    if match is None:
      raise DataError(
          f"{source}: timestamp {text!r} of row {row} has no UTC offset while others do;"
          " write every timestamp with an offset (or none)."
      )
    if match.group(4):
      offsets[row] = 0
    else:
      sign = 1 if match.group(1) == "+" else -1
      offsets[row] = sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)
  return offsets


def _run_lengths(values: np.ndarray) -> tuple[tuple[int, int], ...]:
  changes = np.flatnonzero(np.diff(values)) + 1
  firsts = np.concatenate([[0], changes])
  return tuple((int(i), int(values[i])) for i in firsts)


def parse_time_grid(timestamps, source: str, *, timezone: str | None = None) -> TimeGrid:
  """The grid of strictly regular timestamps (module docstring for the rules).

  Args:
    timestamps: `[steps]` anything pandas parses as times: strings (ISO,
      ``"1939 Jan"``, with or without UTC offsets, mixed offsets across a DST
      switch), datetimes, tz-aware datetimes.
    source: what the timestamps belong to, for messages.
    timezone: an IANA zone to read the timestamps in: naive ones are
      localised to it, tz-aware ones converted to it.

  Returns:
    The `TimeGrid`.

  Raises:
    DataError: unparseable or missing timestamps, fewer than three, a
      fraction of a second, unsorted, duplicated or irregular ones (the first
      offending rows are named).
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top

  values = pd.Series(timestamps).reset_index(drop=True)
  if values.isna().any():
    row = int(np.flatnonzero(values.isna().to_numpy())[0])
    raise DataError(f"{source}: timestamp of row {row} is missing.")
  if len(values) < 3:
    raise DataError(f"{source}: needs at least three timestamps to infer the step, got {len(values)}.")
  if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
    raise DataError(
        f"{source}: the timestamp column holds numbers ({str(values.iloc[0])}, ...), not"
        " timestamps."
    )
  offsets = None
  try:
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
      index = pd.DatetimeIndex(values)
    else:
      text = values.astype(str)
      with warnings.catch_warnings():
        # pandas 2 warns on offsets that change and returns objects; pandas 3 raises.
        warnings.simplefilter("ignore", FutureWarning)
        try:
          parsed = pd.to_datetime(text, format="mixed")
          mixed_offsets = parsed.dtype == object
        except ValueError as e:
          if "mixed time" not in str(e).lower() and "timezone" not in str(e).lower():
            raise
          mixed_offsets = True
      if mixed_offsets:
        # Offsets that change (a DST switch in fixed-offset text): absolute
        # times, and each row's own offset for the wall clock.
        index = pd.DatetimeIndex(pd.to_datetime(text, format="mixed", utc=True))
        offsets = _utc_offsets_of_text(text.tolist(), source)
      else:
        index = pd.DatetimeIndex(parsed)
  except (TypeError, ValueError, OverflowError) as e:
    raise DataError(f"{source}: timestamps could not be parsed ({e}).") from None
  if index.tz is None and offsets is None and timezone is not None:
    try:
      index = index.tz_localize(timezone, ambiguous="infer", nonexistent="raise")
    except Exception as e:  # pylint: disable=broad-except  # pytz/zoneinfo raise many types.
      raise DataError(f"{source}: cannot read the timestamps in time zone {timezone!r} ({e}).") from None
  if index.tz is not None and timezone is not None:
    index = index.tz_convert(timezone)
  zone_name = None
  if offsets is not None:
    utc = index.tz_localize(None)
    local = utc + pd.to_timedelta(offsets, unit="s")
    zone_name = timezone
  elif index.tz is not None:
    utc = index.tz_convert("UTC").tz_localize(None)
    local = index.tz_localize(None)
    offsets = np.asarray((local - utc).total_seconds(), np.int64)
    zone_name = str(index.tz)
  else:
    utc = local = index
  if offsets is not None and zone_name is None:
    zone_name = _format_offset(int(offsets[-1])) if len(set(offsets.tolist())) == 1 else None
  nanoseconds = local.as_unit("ns").asi8
  if np.any(nanoseconds % 1_000_000_000):
    row = int(np.flatnonzero(nanoseconds % 1_000_000_000)[0])
    raise DataError(f"{source}: timestamp {local[row]} of row {row} has a fraction of a second.")
  local_seconds = nanoseconds // 1_000_000_000
  utc_seconds = utc.as_unit("ns").asi8 // 1_000_000_000
  utc_offsets = _run_lengths(offsets) if offsets is not None else ()
  start = np.datetime64(int(local_seconds[0]), "s")

  def fixed_step(seconds: np.ndarray) -> int | None:
    steps = np.diff(seconds)
    return int(steps[0]) if steps[0] > 0 and np.all(steps == steps[0]) else None

  step = fixed_step(utc_seconds)
  if step is not None and step < SECONDS_PER_DAY:
    return _grid(source, start=start, step_seconds=step, timezone=zone_name, utc_offsets=utc_offsets)
  step = fixed_step(local_seconds)
  if step is not None and step % SECONDS_PER_DAY == 0:
    return _grid(source, start=start, step_seconds=step, timezone=zone_name, utc_offsets=utc_offsets)
  with warnings.catch_warnings():  # pandas plans to return an offset object: take its name.
    warnings.simplefilter("ignore", FutureWarning)
    inferred = pd.infer_freq(pd.DatetimeIndex(local))
  frequency = None if inferred is None else str(getattr(inferred, "freqstr", inferred))
  if frequency is not None and calendar_months(frequency) is not None:
    return _grid(source, start=start, frequency=frequency, timezone=zone_name, utc_offsets=utc_offsets)
  if step is not None:
    # Regular, but not a step the grid supports (36 hours): TimeGrid says why.
    return _grid(source, start=start, step_seconds=step, timezone=zone_name, utc_offsets=utc_offsets)
  _raise_irregular(source, local, local_seconds)
  raise AssertionError("unreachable")


def _grid(source: str, **fields) -> TimeGrid:
  try:
    return TimeGrid(**fields)
  except DataError as e:
    raise DataError(f"{source}: {e}") from None


def _raise_irregular(source: str, local, seconds: np.ndarray) -> None:
  steps = np.diff(seconds)
  if np.any(steps <= 0):
    row = int(np.flatnonzero(steps <= 0)[0])
    what = "repeats" if steps[row] == 0 else "goes back to"
    raise DataError(
        f"{source}: timestamps must be sorted and unique; row {row + 1} {what}"
        f" {local[row + 1]} after {local[row]} in row {row}."
    )
  values, counts = np.unique(steps, return_counts=True)
  step = int(values[np.argmax(counts)])
  row = int(np.flatnonzero(steps != step)[0])
  raise DataError(
      f"{source}: timestamps are not on a regular grid: most steps are {step} s, but rows"
      f" {row} -> {row + 1} go from {local[row]} to {local[row + 1]} ({int(steps[row])} s)."
      " Monthly, quarterly and yearly data must be on consistent month starts or month"
      " ends. Insert the missing rows with empty cells (empty = missing); nothing is filled"
      " silently."
  )
