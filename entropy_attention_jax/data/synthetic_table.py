"""A deterministic synthetic *wide table*: hourly multivariate series of mixed units.

`synthetic_wide_table` returns what real multivariate CSV tables look like:
one `timestamp` column and one numeric column per series, each series in its
own unit and range, with missing cells, real zeros and covariates. It is meant
to exercise a wide-table data path end to end (NaN = missing, per-series
scaling, covariates) on data whose structure is known.

Rows: `days * 24` consecutive hours from `start` (default 2023-04-03 00:00, a
Monday; 91 days reach early July, so both heating and cooling show). Timestamps
are naive local time, written `YYYY-MM-DD HH:MM:SS`; the table has no daylight
saving shifts (every step is exactly one hour).

Columns, in order (`TARGET_COLUMNS`, then the covariates):

- `timestamp`: the hour (naive `datetime64`).
- `load_north_MW`, `load_south_MW`, `load_city_MW`, `load_industry_MW`:
  electricity loads in MW (hundreds to a few thousands). Daily cycle (morning
  ramp, daytime plateau, evening peak), a weekly cycle through `working_day`
  (non-working days are 30-50 % lower with a flatter, later profile; the
  industrial load drops most), a small Monday/Friday effect, heating below
  ~15 degC and cooling above ~22 degC driven by a thermally lagged
  `temperature_C`, day-to-day level shocks and autocorrelated noise. Tests
  that a model uses the covariates and copes with large, different scales.
- `water_flow_m3h`: a water network's flow in m3/h (tens): morning and evening
  peaks (the morning one later and lower on non-working days), more flow in
  warm weather. Tests a small-scale series next to MW-scale ones.
- `solar_MW`: a 60 MW solar park. Exactly 0.0 every night (sun below ~1 deg
  elevation): REAL zeros, not missing values; clouds follow the weather
  (low pressure = cloudy). Tests that zeros are kept as values and that the
  daily on/off shape is learnt.
- `wind_speed_ms`: wind speed in m/s, stronger in low-pressure spells and in
  the afternoon; readings under the anemometer's 0.5 m/s start-up speed are
  written 0.0 (real calm zeros). Tests a skewed, zero-inflated series.
- `humidity_pct`: relative humidity in % (clipped to [5, 100]: foggy nights
  saturate at 100), anti-correlated with the daily temperature cycle, higher
  under clouds. Tests a bounded series.
- `pressure_hPa`: air pressure in hPa (about 1013 +- 15), a slow weather
  process plus the semi-diurnal atmospheric tide (~0.6 hPa). Tests a slow,
  nearly persistent series (hard to beat "repeat the last value" on).
- `temperature_C` (observed covariate, `OBSERVED_COVARIATES`): air temperature
  in degC: seasonal rise, daily cycle (peak mid-afternoon) and weather fronts
  (multi-day anomalies). It drives the loads, water flow and humidity; it is
  an input only (known up to the forecast origin, not in the future).
- `working_day` (known-future covariate, `KNOWN_FUTURE_COVARIATES`): 1 on
  working days, 0 on weekends and on public holidays. The holidays are drawn
  on weekdays, spread over the period (about one every ten days, at least
  two in the last 20 % of the table), so `working_day` is NOT a function of the weekday: a model must read
  it to forecast the holiday load drop. Stored as int64 0/1.

Missing cells: only target columns have NaN, never the covariates or the
timestamp. Six target columns get 2-4 sensor outages each (3 to 24
consecutive hours), and every target column gets a few isolated NaN cells;
about 1-3 % of target cells are missing in all.

Everything is drawn from `numpy.random.default_rng(seed)` (three spawned
streams: calendar, values, gaps), in a fixed order,
and values are rounded to the resolution a meter would report (so a CSV round
trip is exact): the same arguments always give the same table.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
import scipy.signal

from entropy_attention_jax.data.errors import DataError

TIMESTAMP_COLUMN = "timestamp"
LOAD_COLUMNS: tuple[str, ...] = (
    "load_north_MW", "load_south_MW", "load_city_MW", "load_industry_MW",
)
TARGET_COLUMNS: tuple[str, ...] = (
    *LOAD_COLUMNS, "water_flow_m3h", "solar_MW", "wind_speed_ms", "humidity_pct",
    "pressure_hPa",
)
OBSERVED_COVARIATES: tuple[str, ...] = ("temperature_C",)
KNOWN_FUTURE_COVARIATES: tuple[str, ...] = ("working_day",)
COLUMNS: tuple[str, ...] = (
    TIMESTAMP_COLUMN, *TARGET_COLUMNS, *OBSERVED_COVARIATES, *KNOWN_FUTURE_COVARIATES,
)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_START = "2023-04-03"
# Target columns that get multi-hour sensor outages (the others only isolated NaN).
OUTAGE_COLUMNS: tuple[str, ...] = (
    "load_north_MW", "load_city_MW", "water_flow_m3h", "solar_MW", "wind_speed_ms",
    "humidity_pct",
)
# Reporting resolution of each column (values are rounded to it).
DECIMALS = {
    **{c: 1 for c in LOAD_COLUMNS}, "water_flow_m3h": 2, "solar_MW": 3,
    "wind_speed_ms": 1, "humidity_pct": 1, "pressure_hPa": 1, "temperature_C": 1,
}
# Load models: (base MW, non-working-day factor, heating MW/degC, cooling MW/degC).
_LOADS = {
    "load_north_MW": (1500.0, 0.62, 30.0, 12.0),
    "load_south_MW": (900.0, 0.66, 8.0, 30.0),
    "load_city_MW": (2600.0, 0.60, 35.0, 45.0),
    "load_industry_MW": (450.0, 0.50, 2.0, 3.0),
}


def _ar1(rng: np.random.Generator, n: int, phi: float, std: float) -> np.ndarray:
  """`[n]` stationary AR(1) noise with coefficient `phi` and marginal std `std`."""
  innovations = rng.standard_normal(n) * std * np.sqrt(1.0 - phi**2)
  innovations[0] = rng.standard_normal() * std  # Start in the stationary law.
  return scipy.signal.lfilter([1.0], [1.0, -phi], innovations)


def _holidays(rng: np.random.Generator, days: pd.DatetimeIndex, count: int) -> np.ndarray:
  """`[days]` bool: `count` holidays on weekdays, spread out, >= 2 within the last 20 %.

  The weekdays (the first day excluded) before and within the last 20 % of the
  days are cut into equal blocks, and one holiday is drawn in each block.
  """
  weekday = np.flatnonzero(np.asarray(days.day_of_week) < 5)
  weekday = weekday[weekday > 0]
  late_start = int(np.ceil(0.8 * len(days)))  # Whole days inside the last 20 % of the hours.
  late = weekday[weekday >= late_start]
  early = weekday[weekday < late_start]
  num_late = min(len(late), max(2, round(0.25 * count)), count)
  num_early = min(len(early), count - num_late)
  chosen = [
      rng.choice(block)
      for pool, k in ((early, num_early), (late, num_late)) if k
      for block in np.array_split(pool, k)
  ]
  holiday = np.zeros(len(days), dtype=bool)
  holiday[np.asarray(chosen, dtype=np.int64)] = True
  return holiday


def _hour_profile(hour: np.ndarray, working: np.ndarray) -> np.ndarray:
  """Relative load profile (mean about 1) by hour of day, working vs non-working."""
  h = hour.astype(np.float64)
  bump = lambda centre, width: np.exp(-0.5 * ((h - centre) / width) ** 2)
  work = 0.70 + 0.38 * bump(11.5, 3.2) + 0.22 * bump(19.0, 1.6) + 0.10 * bump(8.0, 1.0)
  rest = 0.78 + 0.22 * bump(13.0, 3.5) + 0.20 * bump(19.5, 1.8)
  return np.where(working, work, rest)


def synthetic_wide_table(
    days: int = 91,
    seed: int = 0,
    *,
    start: str = DEFAULT_START,
    num_holidays: int | None = None,
    missing: bool = True,
    future_hours: int = 0,
) -> pd.DataFrame:
  """The synthetic hourly wide table of the module docstring.

  Args:
    days: number of days; the table has `days * 24` rows (at least 7 days).
    seed: seed of `numpy.random.default_rng`; same arguments -> same table.
    start: first day (its 00:00 is the first row), anything `pandas.Timestamp`
      reads; the time of day is ignored.
    num_holidays: public holidays, all on weekdays; default `round(days / 10)`
      (9 for 91 days).
    missing: write the NaN gaps (outages and isolated cells) into the targets;
      `False` gives the complete table (the same values elsewhere).
    future_hours: rows appended after the `days`: the steps to forecast, with
      the targets and the observed `temperature_C` empty and `working_day`
      filled (what `forecast` needs); drawn with the rest, so the table
      differs from one without them.

  Returns:
    A `[days * 24, 12]` DataFrame with the columns `COLUMNS`: `timestamp`
    (naive `datetime64`), the float64 targets `TARGET_COLUMNS` (MW, m3/h, MW,
    m/s, %, hPa; NaN = missing), `temperature_C` (float64 degC, no NaN) and
    `working_day` (int64 0/1, no NaN).

  Raises:
    DataError: `days < 7` or a negative `num_holidays`.
  """
  if int(days) != days or days < 7:
    raise DataError(f"synthetic_wide_table needs days >= 7 (an integer), got {days!r}.")
  days = int(days)
  if int(future_hours) != future_hours or future_hours < 0:
    raise DataError(f"future_hours must be an integer >= 0, got {future_hours!r}.")
  future_hours = int(future_hours)
  observed_rows = days * 24
  days += -(-future_hours // 24)
  num_holidays = round(days / 10) if num_holidays is None else int(num_holidays)
  if num_holidays < 0:
    raise DataError(f"num_holidays must be >= 0, got {num_holidays}.")
  # Independent streams: the calendar, the weather and the gaps do not shift
  # each other's draws (e.g. another num_holidays keeps the same weather).
  calendar_rng, rng, gap_rng = np.random.default_rng(seed).spawn(3)
  n = days * 24
  first = pd.Timestamp(start).normalize()
  times = pd.date_range(first, periods=n, freq="h")
  day_index = pd.date_range(first, periods=days, freq="D")
  hour = np.asarray(times.hour)
  day = np.arange(n) // 24
  doy = np.asarray(times.day_of_year, dtype=np.float64) + hour / 24.0

  # Calendar.
  holiday = _holidays(calendar_rng, day_index, num_holidays) if num_holidays else np.zeros(days, bool)
  working_day = ((np.asarray(day_index.day_of_week) < 5) & ~holiday).astype(np.int64)
  working = working_day[day].astype(bool)
  weekday = np.asarray(times.day_of_week)

  # Weather: slow pressure systems, fronts (temperature anomalies), clouds.
  synoptic = _ar1(rng, n, 1 - 1 / 60.0, 1.0)  # ~2.5-day pressure systems.
  front = _ar1(rng, n, 1 - 1 / 90.0, 3.0)  # Multi-day temperature anomalies, degC.
  seasonal = 12.0 + 9.0 * np.sin(2 * np.pi * (doy - 110.0) / 365.0)
  daily_amplitude = 4.5 + 1.5 * np.clip(synoptic, -1.5, 1.5)  # Clear (high) = larger swing.
  daily = -np.cos(2 * np.pi * (hour - 3.0) / 24.0)  # Min ~03:00, max ~15:00.
  temperature = seasonal + front + daily_amplitude * daily + _ar1(rng, n, 0.7, 0.4)
  pressure = (
      1013.0 + 12.0 * synoptic + 0.6 * np.cos(2 * np.pi * (hour - 10.0) / 12.0)
      + _ar1(rng, n, 0.8, 0.3)
  )
  cloud = 1.0 / (1.0 + np.exp(2.2 * synoptic - _ar1(rng, n, 0.9, 1.2)))  # In (0, 1).

  # Loads: heating / cooling from a thermally lagged temperature (~8 h).
  lagged = scipy.signal.lfilter([1 / 8.0], [1.0, -(1 - 1 / 8.0)], temperature - temperature[0])
  lagged = lagged + temperature[0]
  heating = np.maximum(15.0 - lagged, 0.0)
  cooling = np.maximum(lagged - 22.0, 0.0)
  profile = _hour_profile(hour, working)
  weekday_effect = np.where(
      working & (weekday == 0) & (hour < 10), 0.96, np.where(working & (weekday == 4) & (hour >= 14), 0.95, 1.0)
  )
  columns: dict[str, np.ndarray] = {}
  for name, (base, rest_factor, heat, cool) in _LOADS.items():
    level = np.where(working, 1.0, rest_factor)
    day_shock = 1.0 + 0.03 * rng.standard_normal(days)[day]
    noise = 1.0 + _ar1(rng, n, 0.85, 0.02) + 0.008 * rng.standard_normal(n)
    weather = heat * heating + cool * cooling
    columns[name] = (base * level * profile * weekday_effect * day_shock + weather) * noise

  # Water flow: morning / evening peaks, the morning one later on days off.
  h = hour.astype(np.float64)
  morning_centre = np.where(working, 7.0, 9.5)
  morning_height = np.where(working, 22.0, 15.0)
  flow = (
      18.0 + morning_height * np.exp(-0.5 * ((h - morning_centre) / 1.3) ** 2)
      + 14.0 * np.exp(-0.5 * ((h - 19.5) / 1.8) ** 2)
      + 8.0 * np.exp(-0.5 * ((h - 13.0) / 3.0) ** 2)
      + 0.6 * np.maximum(temperature - 18.0, 0.0)
  )
  columns["water_flow_m3h"] = flow * (1.0 + _ar1(rng, n, 0.6, 0.05))

  # Solar: clear-sky elevation at 48 degN, solar noon at 13:00 local, clouds.
  declination = np.deg2rad(23.44) * np.sin(2 * np.pi * (284.0 + doy) / 365.0)
  latitude = np.deg2rad(48.0)
  hour_angle = np.deg2rad(15.0 * (h + 0.5 - 13.0))  # Mid-hour.
  sin_elevation = (
      np.sin(latitude) * np.sin(declination)
      + np.cos(latitude) * np.cos(declination) * np.cos(hour_angle)
  )
  clear_sky = np.where(sin_elevation > 0.02, np.maximum(sin_elevation, 0.0) ** 1.2, 0.0)
  solar = 60.0 * 0.85 * clear_sky * (1.0 - 0.8 * cloud) * (1.0 + 0.05 * rng.standard_normal(n))
  columns["solar_MW"] = np.where(clear_sky > 0, np.maximum(solar, 0.0), 0.0)

  # Wind: low pressure and afternoons are windier; < 0.5 m/s reads 0 (calm).
  wind = (
      3.2 - 1.6 * synoptic + 1.0 * np.exp(-0.5 * ((h - 15.0) / 3.5) ** 2)
      + _ar1(rng, n, 0.9, 1.4)
  )
  wind = np.maximum(wind, 0.0) * (1.0 + 0.1 * rng.standard_normal(n))
  columns["wind_speed_ms"] = np.where(wind < 0.5, 0.0, wind)

  # Humidity: anti-correlated with the daily temperature swing, higher under clouds.
  humidity = (
      62.0 - 2.8 * daily_amplitude * daily + 25.0 * (cloud - 0.5) - 0.8 * front
      + _ar1(rng, n, 0.8, 4.0)
  )
  columns["humidity_pct"] = np.clip(humidity, 5.0, 100.0)
  columns["pressure_hPa"] = pressure

  targets = np.stack([np.round(columns[c], DECIMALS[c]) for c in TARGET_COLUMNS], axis=1)
  targets[targets == 0] = 0.0  # No negative zeros from rounding.
  if missing:
    _punch_gaps(gap_rng, targets)
  frame = pd.DataFrame(targets, columns=list(TARGET_COLUMNS))
  frame.insert(0, TIMESTAMP_COLUMN, times)
  frame["temperature_C"] = np.round(temperature, DECIMALS["temperature_C"])
  frame["working_day"] = working_day[day]
  if future_hours or len(frame) > observed_rows:
    frame = frame.iloc[: observed_rows + future_hours].copy()
    frame.loc[frame.index[observed_rows:], [*TARGET_COLUMNS, "temperature_C"]] = np.nan
  return frame


def _punch_gaps(rng: np.random.Generator, targets: np.ndarray) -> None:
  """Writes NaN into `[steps, targets]` in place: outages and isolated cells."""
  n = targets.shape[0]
  for column in OUTAGE_COLUMNS:
    j = TARGET_COLUMNS.index(column)
    for _ in range(rng.integers(2, 5)):
      length = int(rng.integers(3, 25))
      first = int(rng.integers(0, max(n - length, 1)))
      targets[first:first + length, j] = np.nan
  isolated = rng.random(targets.shape) < 0.003
  targets[isolated] = np.nan


def write_synthetic_wide_table(path: str | pathlib.Path, **kw) -> pathlib.Path:
  """Writes `synthetic_wide_table(**kw)` as a CSV file.

  Args:
    path: the CSV file (its folder must exist).
    **kw: arguments of `synthetic_wide_table` (`days`, `seed`, ...).

  Returns:
    The path. Timestamps are written `YYYY-MM-DD HH:MM:SS`, missing cells as
    empty fields, values at their reporting resolution (exact round trip).
  """
  path = pathlib.Path(path)
  frame = synthetic_wide_table(**kw)
  frame.to_csv(path, index=False, date_format=TIMESTAMP_FORMAT, na_rep="")
  return path
