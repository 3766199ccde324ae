"""Time grids: fixed steps, calendar months, time zones across DST, features, default windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.data import DataError
from entropy_attention_jax.data.calendar import TimeGrid, default_window, parse_time_grid


def grid_of(timestamps, **kwargs) -> TimeGrid:
  return parse_time_grid(pd.Series(timestamps), "t", **kwargs)


def test_hourly():
  grid = grid_of(pd.date_range("2020-01-05 22:00", periods=5, freq="h"))  # A Sunday.
  assert (grid.step_seconds, grid.frequency, grid.timezone, grid.utc_offsets) == (3600, None, None, ())
  assert grid.start == np.datetime64("2020-01-05T22:00:00")
  assert grid.features == ("time_of_day", "day_of_week")
  assert (grid.steps_per_day, grid.seasonal_period) == (24, 24)
  np.testing.assert_allclose(grid.feature("time_of_day", np.arange(5)), np.array([22, 23, 0, 1, 2]) / 24)
  np.testing.assert_array_equal(grid.feature("day_of_week", np.arange(5)), [6, 6, 0, 0, 0])
  assert grid.format(np.array([0, 2])) == ["2020-01-05 22:00:00", "2020-01-06 00:00:00"]
  assert grid.describe() == "every 3600 s"


def test_daily():
  grid = grid_of(pd.date_range("2021-01-29", periods=5, freq="D"))  # A Friday.
  assert grid.step_seconds == 86_400 and grid.features == ("day_of_week", "month_of_year")
  np.testing.assert_array_equal(grid.feature("day_of_week", np.arange(5)), [4, 5, 6, 0, 1])
  np.testing.assert_array_equal(grid.feature("month_of_year", np.arange(5)), [0, 0, 0, 1, 1])
  assert grid.format(np.arange(4, 6)) == ["2021-02-02", "2021-02-03"]  # Date only, also ahead.
  assert grid.seasonal_period == 7


def test_weekly():
  grid = grid_of(pd.date_range("2020-12-21", periods=4, freq="W-MON"))
  assert grid.step_seconds == 7 * 86_400 and grid.frequency is None
  assert grid.features == ("month_of_year",)
  np.testing.assert_array_equal(grid.feature("month_of_year", np.arange(4)), [11, 11, 0, 0])
  assert grid.seasonal_period == 52


def test_monthly_text_like_1939_jan():
  grid = grid_of(["1939 Jan", "1939 Feb", "1939 Mar", "1939 Apr"])
  assert (grid.frequency, grid.step_seconds) == ("MS", 0)
  assert grid.start == np.datetime64("1939-01-01T00:00:00")
  assert grid.features == ("month_of_year",) and grid.seasonal_period == 12
  np.testing.assert_array_equal(grid.feature("month_of_year", np.arange(14)), [*range(12), 0, 1])
  # Steps past the data continue the calendar: 1939-12 then 1940-01.
  assert grid.format(np.array([11, 12])) == ["1939-12-01", "1940-01-01"]
  assert grid.describe() == "monthly (MS)"


def test_month_ends():
  grid = grid_of(["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"])
  assert grid.frequency == "ME"
  assert grid.format(np.arange(3, 7)) == ["2020-04-30", "2020-05-31", "2020-06-30", "2020-07-31"]
  np.testing.assert_array_equal(grid.feature("month_of_year", np.arange(4)), [0, 1, 2, 3])


def test_quarters_and_years():
  quarters = grid_of(pd.date_range("2020-01-01", periods=5, freq="QS"))
  assert quarters.frequency.startswith("QS") and quarters.seasonal_period == 4
  np.testing.assert_array_equal(quarters.feature("month_of_year", np.arange(5)), [0, 3, 6, 9, 0])
  years = grid_of(pd.date_range("2000-01-01", periods=5, freq="YS"))
  assert years.frequency.startswith("YS") and years.features == () and years.seasonal_period == 1


def test_berlin_hourly_across_the_march_dst_switch_follows_local_time():
  # 2021-03-28 02:00 CET does not exist: clocks jump to 03:00 CEST.
  index = pd.date_range("2021-03-27 00:00", periods=72, freq="h", tz="Europe/Berlin")
  grid = grid_of(index)
  assert grid.step_seconds == 3600 and grid.timezone == "Europe/Berlin"
  assert grid.start == np.datetime64("2021-03-27T00:00:00")  # Local, not UTC (23:00).
  assert grid.utc_offsets == ((0, 3600), (26, 7200))
  hours = grid.feature("time_of_day", np.arange(72)) * 24
  np.testing.assert_allclose(hours, index.hour + index.minute / 60, atol=1e-5)
  np.testing.assert_allclose(hours[24:28], [0, 1, 3, 4], atol=1e-5)  # No 02:00 that day.
  np.testing.assert_allclose(hours[47:49], [0, 1], atol=1e-5)  # A 23-hour day: 00:00 at step 47.
  np.testing.assert_array_equal(grid.feature("day_of_week", np.arange(72)), index.day_of_week)
  assert grid.format(np.array([25, 26])) == ["2021-03-28 01:00:00+01:00", "2021-03-28 03:00:00+02:00"]
  assert grid.format(np.array([72])) == ["2021-03-30 01:00:00+02:00"]  # A step ahead.
  assert "time zone Europe/Berlin" in grid.describe()


def test_mixed_text_offsets_are_accepted():
  index = pd.date_range("2021-03-27 00:00", periods=72, freq="h", tz="Europe/Berlin")
  texts = [t.isoformat() for t in index]
  assert texts[25].endswith("+01:00") and texts[26].endswith("+02:00")
  grid = grid_of(texts)
  assert grid.step_seconds == 3600 and grid.utc_offsets == ((0, 3600), (26, 7200))
  assert grid.start == np.datetime64("2021-03-27T00:00:00")
  np.testing.assert_allclose(
      grid.feature("time_of_day", np.arange(72)), grid_of(index).feature("time_of_day", np.arange(72))
  )
  # A text timestamp without an offset among ones with offsets is named.
  texts[5] = texts[5][:-6]
  with pytest.raises(DataError, match="row 5 has no UTC offset"):
    grid_of(texts)


def test_daily_tz_aware_across_dst_is_regular():
  index = pd.date_range("2021-03-20", periods=20, freq="D", tz="Europe/Berlin")
  assert len(set(np.diff(index.asi8))) == 2  # 24 h and one 23 h day on the absolute clock.
  grid = grid_of(index)
  assert grid.step_seconds == 86_400 and grid.timezone == "Europe/Berlin"
  assert grid.utc_offsets == ((0, 3600), (9, 7200))
  np.testing.assert_array_equal(grid.feature("day_of_week", np.arange(20)), index.day_of_week)
  assert grid.format(np.array([0, 9])) == ["2021-03-20+01:00", "2021-03-29+02:00"]


def test_naive_timestamps_read_in_a_timezone():
  grid = grid_of(pd.date_range("2021-03-28 00:00", periods=2, freq="h").append(
      pd.DatetimeIndex(["2021-03-28 03:00"])), timezone="Europe/Berlin")
  assert grid.step_seconds == 3600 and grid.utc_offsets == ((0, 3600), (2, 7200))


def test_irregular_grid_error_names_the_rows():
  times = list(pd.date_range("2020-01-01", periods=10, freq="h"))
  del times[5]
  with pytest.raises(DataError, match=(
      r"not on a regular grid: most steps are 3600 s, but rows 4 -> 5 go from"
      r" 2020-01-01 04:00:00 to 2020-01-01 06:00:00 \(7200 s\).*empty cells")):
    grid_of(times)
  months = ["2020-01-01", "2020-02-01", "2020-03-15", "2020-04-01"]
  with pytest.raises(DataError, match=r"rows \d -> \d.*month starts or month ends"):
    grid_of(months)
  with pytest.raises(DataError, match=r"sorted and unique; row 2 repeats"):
    grid_of(["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 01:00", "2020-01-01 02:00"])


@pytest.mark.parametrize(
    "timestamps, message",
    [
        (["2020-01-01", "2020-01-02"], "at least three timestamps"),
        (pd.date_range("2020-01-01", periods=4, freq="7min"), "must divide a day"),
        (pd.date_range("2020-01-01", periods=4, freq="36h"), "must be whole days"),
        ([1, 2, 3], "holds numbers"),
        (["2020-01-01", "yesterday-ish", "2020-01-03"], "could not be parsed"),
    ],
)
def test_bad_grids(timestamps, message):
  with pytest.raises(DataError, match=message):
    grid_of(timestamps)


@pytest.mark.parametrize(
    "freq, window",
    [
        ("5min", (288, 24)), ("15min", (96, 24)), ("h", (48, 24)), ("D", (28, 7)),
        ("W-MON", (52, 8)), ("MS", (24, 12)), ("QS", (12, 4)), ("YS", (8, 4)),
    ],
)
def test_default_window(freq, window):
  assert default_window(grid_of(pd.date_range("2000-01-03", periods=4, freq=freq))) == window


def test_grid_checks_its_fields():
  with pytest.raises(DataError, match="unknown calendar frequency"):
    TimeGrid(start=np.datetime64("2020-01-01"), frequency="M-WHATEVER")
  assert TimeGrid(start=np.datetime64("2020-01-01"), step_seconds=7 * 86_400).features == (
      "month_of_year",)
  metadata = grid_of(["1939 Jan", "1939 Feb", "1939 Mar"]).to_metadata()
  assert metadata["frequency"] == "MS" and metadata["start"] == "1939-01-01T00:00:00"
