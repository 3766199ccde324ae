"""The synthetic wide table: determinism, columns, zeros, gaps, calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.data import synthetic_table as st
from entropy_attention_jax.data.errors import DataError


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
  return st.synthetic_wide_table()


def test_same_seed_same_table_other_seed_other_table(table):
  pd.testing.assert_frame_equal(table, st.synthetic_wide_table(days=91, seed=0))
  other = st.synthetic_wide_table(seed=1)
  assert not np.allclose(
      table[list(st.TARGET_COLUMNS)].fillna(0), other[list(st.TARGET_COLUMNS)].fillna(0)
  )


def test_columns_rows_and_dtypes(table):
  assert tuple(table.columns) == st.COLUMNS
  assert table.columns[0] == "timestamp"
  assert set(st.TARGET_COLUMNS).isdisjoint(st.OBSERVED_COVARIATES + st.KNOWN_FUTURE_COVARIATES)
  assert st.OBSERVED_COVARIATES == ("temperature_C",)
  assert st.KNOWN_FUTURE_COVARIATES == ("working_day",)
  assert len(table) == 91 * 24
  steps = np.diff(table["timestamp"].to_numpy()).astype("timedelta64[s]").astype(np.int64)
  np.testing.assert_array_equal(steps, 3600)
  assert table["timestamp"].iloc[0] == pd.Timestamp("2023-04-03 00:00:00")
  assert table["working_day"].dtype == np.int64
  assert set(np.unique(table["working_day"])) == {0, 1}
  for column in st.TARGET_COLUMNS + st.OBSERVED_COVARIATES:
    assert table[column].dtype == np.float64


def test_value_ranges_and_units(table):
  for column in st.LOAD_COLUMNS:
    assert 100 < table[column].min() and table[column].max() < 5000
  assert 5 < table["water_flow_m3h"].mean() < 100
  assert table["humidity_pct"].min() >= 0 and table["humidity_pct"].max() <= 100
  assert 970 < table["pressure_hPa"].min() and table["pressure_hPa"].max() < 1050
  assert table["solar_MW"].min() == 0 and table["wind_speed_ms"].min() == 0


def test_real_zeros_solar_every_night_and_calm_wind(table):
  hour = table["timestamp"].dt.hour
  night = (hour <= 2) | (hour >= 23)
  solar = table["solar_MW"]
  assert (solar[night].dropna() == 0).all()  # Every night, exactly zero.
  assert 0.25 < (solar == 0).mean() < 0.6
  assert (solar[(hour >= 11) & (hour <= 14)].dropna() > 0).all()
  assert 0.01 < (table["wind_speed_ms"] == 0).mean() < 0.2
  # No reading between 0 and the anemometer's start-up speed.
  wind = table["wind_speed_ms"].dropna()
  assert not ((wind > 0) & (wind < 0.5)).any()


def test_missing_cells_only_in_targets(table):
  targets = table[list(st.TARGET_COLUMNS)]
  assert 0.01 <= targets.isna().to_numpy().mean() <= 0.03
  assert targets.isna().any().sum() >= 6
  assert not table[["timestamp", *st.OBSERVED_COVARIATES, *st.KNOWN_FUTURE_COVARIATES]].isna().any().any()
  # An outage lasts hours: some column has >= 3 consecutive NaN.
  runs = [
      np.diff(np.flatnonzero(np.diff(np.r_[0, targets[c].isna().to_numpy().astype(int), 0])))[::2].max()
      for c in st.OUTAGE_COLUMNS
  ]
  assert max(runs) >= 3
  complete = st.synthetic_wide_table(missing=False)
  assert not complete.isna().any().any()
  observed = targets.notna().to_numpy()
  np.testing.assert_array_equal(
      targets.to_numpy()[observed], complete[list(st.TARGET_COLUMNS)].to_numpy()[observed]
  )


def test_holidays_fall_on_weekdays_including_the_last_fifth(table):
  days = table.groupby(table["timestamp"].dt.normalize())["working_day"].agg(["min", "max"])
  assert (days["min"] == days["max"]).all()  # Constant within a day.
  weekday = np.asarray(days.index.day_of_week)
  working = days["min"].to_numpy()
  np.testing.assert_array_equal(working[weekday >= 5], 0)
  holidays = np.flatnonzero((weekday < 5) & (working == 0))
  assert 8 <= len(holidays) <= 10
  # At least two whole holidays in the test period of a 0.7/0.1/0.2 split.
  first_test_hour = round(0.8 * len(table))
  assert (holidays * 24 >= first_test_hour).sum() >= 2
  # working_day is not a function of the weekday.
  assert len({weekday[i] for i in holidays}) >= 2


def test_working_day_strongly_matters(table):
  working = table["working_day"].to_numpy() == 1
  for column in st.LOAD_COLUMNS:
    drop = 1 - table[column][~working].mean() / table[column][working].mean()
    assert 0.3 <= drop <= 0.5, (column, drop)
  # A holiday on a weekday looks like a Sunday, not like the same weekday.
  weekday = table["timestamp"].dt.day_of_week.to_numpy()
  load = table["load_city_MW"]
  holiday_load = load[(weekday < 5) & ~working].mean()
  assert holiday_load < 0.75 * load[(weekday < 5) & working].mean()


def test_temperature_drives_the_loads(table):
  complete = st.synthetic_wide_table(missing=False)
  daily = complete.groupby(complete["timestamp"].dt.normalize()).mean()
  working = daily["working_day"] == 1
  corr = np.corrcoef(daily["temperature_C"][working], daily["load_north_MW"][working])[0, 1]
  assert abs(corr) > 0.3


def test_write_csv_round_trip(tmp_path):
  path = st.write_synthetic_wide_table(tmp_path / "table.csv", days=14, seed=3)
  text = path.read_text().splitlines()
  assert text[0].split(",")[0] == "timestamp"
  assert text[1].startswith("2023-04-03 00:00:00,")
  read = pd.read_csv(path, parse_dates=["timestamp"])
  expected = st.synthetic_wide_table(days=14, seed=3)
  read["timestamp"] = read["timestamp"].astype(expected["timestamp"].dtype)
  pd.testing.assert_frame_equal(read, expected)


def test_bad_arguments():
  with pytest.raises(DataError, match="days >= 7"):
    st.synthetic_wide_table(days=3)
  with pytest.raises(DataError, match="num_holidays"):
    st.synthetic_wide_table(num_holidays=-1)


def test_calendar_and_gaps_do_not_shift_the_weather():
  fewer = st.synthetic_wide_table(num_holidays=3)
  base = st.synthetic_wide_table()
  for column in ("temperature_C", "pressure_hPa", "solar_MW"):
    pd.testing.assert_series_equal(fewer[column], base[column])
  assert (fewer["working_day"] == 0).sum() < (base["working_day"] == 0).sum()
