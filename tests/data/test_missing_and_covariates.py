"""Wide tables with missing cells, real zeros, covariates and rows to forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.cli import main
from entropy_attention_jax.data import DataError, build_dataset, load_forecasting_data
from entropy_attention_jax.data.readers import read_wide_table
from entropy_attention_jax.training.metrics import error_sums

MONTHS = 120  # 24 -> 12 monthly windows in every split at 7:1:2.


def monthly_frame(months: int = MONTHS, seed: int = 0) -> pd.DataFrame:
  rng = np.random.default_rng(seed)
  season = 10 * np.sin(2 * np.pi * np.arange(months) / 12)
  return pd.DataFrame({
      "month": pd.date_range("2010-01-01", periods=months, freq="MS").strftime("%Y-%m-%d"),
      "a": 50 + season + rng.normal(0, 1, months),
      "b": 20 + season + rng.normal(0, 1, months),
      "temperature": 15 + season + rng.normal(0, 1, months),
      "holiday": (np.arange(months) % 12 == 11).astype(float),
  })


@pytest.fixture(scope="module")
def table(tmp_path_factory):
  """Monthly table: NaN and empty cells in `a`, a real zero in `b`, 12 rows to forecast."""
  root = tmp_path_factory.mktemp("tables")
  frame = monthly_frame()
  frame["a"] = frame["a"].astype(object)
  frame.loc[[30, 31], "a"] = np.nan  # Written as empty cells.
  frame.loc[60, "a"] = "NaN"  # Written as text NaN.
  frame.loc[40, "b"] = 0.0  # A real zero.
  future = pd.DataFrame({
      "month": pd.date_range("2020-01-01", periods=12, freq="MS").strftime("%Y-%m-%d"),
      "holiday": (np.arange(12) % 12 == 11).astype(float),
  })
  frame = pd.concat([frame, future], ignore_index=True)
  path = root / "shop.csv"
  frame.to_csv(path, index=False)
  text = path.read_text().splitlines()
  assert text[31 + 1].split(",")[1] == "" and text[-1].split(",")[1:4] == ["", "", ""]
  return path


def load(table, data_dir, **options):
  return load_forecasting_data(
      "wide_table", data_dir, file=str(table), covariates="temperature", known_future="holiday",
      **options,
  )


@pytest.fixture(scope="module")
def data(table, tmp_path_factory):
  return load(table, tmp_path_factory.mktemp("tfds"))


def test_missing_cells_are_accepted_and_flagged(data):
  info = data.info
  assert info.missing_value is None and info.frequency == "MS"
  assert info.node_ids == ("a", "b") and info.covariate_names == ("temperature", "holiday")
  assert info.future_steps == 12 and info.observed_steps == MONTHS and info.num_steps == MONTHS + 12
  values = data.series.values[:, :, 0]
  assert np.isnan(values[[30, 31, 60], 0]).all() and not np.isnan(values[:MONTHS, 1]).any()
  assert data.series.missing_counts() == {"value": 3}
  assert data.feature_names == ("value", "temperature", "holiday", "observed", "month_of_year")
  assert data.scaling == "per_node" and data.scaler.mean.shape == (2, 1)


def test_inputs_carry_the_last_value_forward_with_an_observed_flag(data):
  start = 20
  position = int(np.flatnonzero(data.train.starts == start)[0])
  sample = data.train[position]
  x = sample["x"]  # Steps 20..43.
  assert x.shape == (24, 2, 5) and not np.isnan(x).any()
  observed = x[:, :, data.feature_index("observed")]
  np.testing.assert_array_equal(observed[:, 0], [0.0 if s in (30, 31) else 1.0 for s in range(20, 44)])
  np.testing.assert_array_equal(observed[:, 1], 1.0)
  raw = data.series.values[:, 0, 0]
  mean, std = data.scaler.mean[0, 0], data.scaler.std[0, 0]
  # Steps 29..32: 30 and 31 are missing and take step 29's value.
  np.testing.assert_allclose(
      x[29 - start : 33 - start, 0, 0], (raw[[29, 29, 29, 32]] - mean) / std, rtol=1e-5
  )
  months = x[:, 0, data.month_of_year_index]
  np.testing.assert_array_equal(months, np.arange(20, 44) % 12)


def test_missing_targets_are_nan_in_y_and_left_out_of_the_metrics(data):
  y = data.train[int(np.flatnonzero(data.train.starts == 7)[0])]["y"]  # Steps 31..42.
  assert y.shape == (12, 2, 1)
  assert np.isnan(y[0, 0, 0]) and not np.isnan(y[1:, 0, 0]).any()
  sums = error_sums(np.zeros_like(y)[None], y[None], np.array([True]), data.info.missing_value)
  count = np.asarray(sums.count)
  assert count.shape == (12, 2) and count[0, 0] == 0 and count.sum() == 23


def test_real_zeros_are_kept_unless_missing_value_says_otherwise(table, data, tmp_path):
  b = data.info.node_ids.index("b")
  assert data.series.values[40, b, 0] == 0.0 and not data.info.is_missing(np.float32(0.0))
  position = int(np.flatnonzero(data.train.starts == 40 - 24)[0])
  y = data.train[position]["y"]  # Step 40 first.
  real = error_sums(np.ones_like(y)[None], y[None], np.array([True]), data.info.missing_value)
  assert float(np.asarray(real.count)[0, b]) == 1 and float(np.asarray(real.relative_count)[0, b]) == 0
  zeros_missing = load(table, tmp_path, missing_value=0.0)
  assert zeros_missing.info.missing_value == 0.0
  assert zeros_missing.series.missing_counts() == {"value": 4}
  masked = error_sums(
      np.ones_like(y)[None], y[None], np.array([True]), zeros_missing.info.missing_value
  )
  assert float(np.asarray(masked.count)[0, b]) == 0


def test_covariates_in_x_and_known_future_in_future(data):
  sample = data.val[0]
  s = int(data.val.starts[0])
  x, future = sample["x"], sample["future"]
  assert future.shape == (12, 2, 1) and data.num_future == 1
  covariates = data.series.covariates  # [steps, (temperature, holiday)]
  scaler = data.covariate_scaler
  assert scaler.channel_names == ("temperature", "holiday")
  z = (covariates[s : s + 24] - scaler.mean) / scaler.std
  for node in range(2):  # Shared by every node.
    np.testing.assert_allclose(x[:, node, 1:3], z, rtol=1e-5, atol=1e-6)
  z_future = (covariates[s + 24 : s + 36, 1] - scaler.mean[1]) / scaler.std[1]
  np.testing.assert_allclose(future[:, 0, 0], z_future, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(future[:, 0], future[:, 1])


def test_trailing_future_rows_are_forecast_not_scored(data):
  assert data.test.target_steps[1] == MONTHS  # No window targets the future rows.
  batch, target_steps = data.latest_window()
  np.testing.assert_array_equal(target_steps, np.arange(MONTHS, MONTHS + 12))
  assert batch["x"].shape == (1, 24, 2, 5) and batch["future"].shape == (1, 12, 2, 1)
  holiday = data.series.covariates[MONTHS:, 1]
  assert holiday[11] == 1.0 and holiday[:11].sum() == 0.0
  scaler = data.covariate_scaler
  np.testing.assert_allclose(
      batch["future"][0, :, 0, 0], (holiday - scaler.mean[1]) / scaler.std[1], rtol=1e-5
  )
  assert data.info.grid.format(target_steps[[0, -1]]) == ["2020-01-01", "2020-12-01"]


def test_known_future_values_must_fill_the_future_rows(tmp_path):
  frame = monthly_frame(40)
  frame.loc[35:, ["a", "b", "temperature"]] = np.nan
  frame.loc[37, "holiday"] = np.nan
  frame.to_csv(tmp_path / "gap.csv", index=False)
  with pytest.raises(DataError, match=r"known-future covariate 'holiday' is missing at step 37"):
    read_wide_table(tmp_path / "gap.csv", covariates=["temperature"], known_future=["holiday"])


def test_a_huge_value_is_refused_naming_its_column(tmp_path):
  frame = monthly_frame(40)
  frame.loc[17, "b"] = 1e30
  frame.to_csv(tmp_path / "huge.csv", index=False)
  with pytest.raises(DataError, match=r"larger than 1e\+15 .* step 17 \(2011-06-01\), node 1 \(id 'b'\)"):
    read_wide_table(tmp_path / "huge.csv")
  with pytest.raises(DataError, match=r"step 17 \(2011-06-01\), covariate 'b'"):
    read_wide_table(tmp_path / "huge.csv", covariates=["b"])
  frame.loc[17, "b"] = np.inf
  frame.to_csv(tmp_path / "inf.csv", index=False)
  with pytest.raises(DataError, match=r"infinite.*id 'b'"):
    build_dataset("wide_table", tmp_path / "tfds", file=tmp_path / "inf.csv")


def test_too_short_table_exits_1_with_an_error_line(tmp_path, capsys):
  monthly_frame(40).to_csv(tmp_path / "short.csv", index=False)
  argv = ["data", "build", "wide_table", "--data-dir", str(tmp_path / "d"),
          "--file", str(tmp_path / "short.csv")]
  assert main(argv) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: wide_table: not built, the series is too short")
  assert "in_steps=24, out_steps=12" in err and err.count("\n") == 1
  assert not list((tmp_path / "d").glob("wide_table/short/*/dataset_info.json"))
  assert main([*argv, "--in-steps", "6", "--out-steps", "3"]) == 0


def test_an_integer_first_column_points_at_timestamp_column(tmp_path, capsys):
  frame = monthly_frame(40)
  frame.insert(0, "row", np.arange(40))
  frame.to_csv(tmp_path / "ids.csv", index=False)
  with pytest.raises(DataError, match=(
      r"holds numbers.*The first column, 'row', is taken as the time column\. Column 'month'"
      r" looks like the time column: pass --timestamp-column month")):
    read_wide_table(tmp_path / "ids.csv")
  argv = ["data", "build", "wide_table", "--data-dir", str(tmp_path / "d"),
          "--file", str(tmp_path / "ids.csv"), "--in-steps", "6", "--out-steps", "3"]
  assert main(argv) == 1
  assert "--timestamp-column month" in capsys.readouterr().err
  assert main([*argv, "--timestamp-column", "month", "--covariates", "row"]) == 0


def test_loading_a_short_table_with_its_own_window_builds_it(tmp_path):
  monthly_frame(40).to_csv(tmp_path / "short.csv", index=False)
  # Not built yet: the load builds it, checked against the window asked for.
  data = load_forecasting_data(
      "wide_table", tmp_path / "tfds", file=str(tmp_path / "short.csv"), in_steps=6, out_steps=3
  )
  assert (data.in_steps, data.out_steps) == (6, 3) and len(data.val) >= 1
  with pytest.raises(DataError, match="too short"):
    load_forecasting_data("wide_table", tmp_path / "other", file=str(tmp_path / "short.csv"))


def test_local_time_tables_across_dst(tmp_path):
  index = pd.date_range("2021-03-20", periods=24 * 14, freq="h", tz="Europe/Berlin")
  values = np.arange(len(index), dtype=float)
  aware = pd.DataFrame({"time": [t.isoformat() for t in index], "load": values})
  aware.to_csv(tmp_path / "aware.csv", index=False)  # "+01:00" then "+02:00".
  data = load_forecasting_data("wide_table", tmp_path / "tfds", file=str(tmp_path / "aware.csv"))
  assert data.info.utc_offsets == ((0, 3600), (8 * 24 + 2, 7200))
  assert data.feature_names == ("value", "time_of_day", "day_of_week")
  tod = data.series.info.time_of_day() * 24
  np.testing.assert_allclose(tod, index.hour, atol=1e-4)  # Local hours: no 02:00 on 03-28.
  start = int(data.test.starts[0])
  np.testing.assert_allclose(
      data.test[0]["x"][:, 0, data.time_of_day_index] * 24, index.hour[start : start + 48], atol=1e-4
  )
  # The same wall-clock times, naive: a one-hour gap unless read in their time zone.
  naive = aware.assign(time=index.tz_localize(None).strftime("%Y-%m-%d %H:%M"))
  naive.to_csv(tmp_path / "naive.csv", index=False)
  with pytest.raises(DataError, match="2021-03-28 01:00:00 to 2021-03-28 03:00:00"):
    read_wide_table(tmp_path / "naive.csv")
  local = read_wide_table(tmp_path / "naive.csv", timezone="Europe/Berlin")
  assert local.info.timezone == "Europe/Berlin" and local.info.utc_offsets == data.info.utc_offsets


def test_reading_a_build_with_other_covariates_is_refused(table, tmp_path):
  build_dataset("wide_table", tmp_path, file=table, covariates="temperature", known_future="holiday")
  with pytest.raises(DataError, match=(
      r"built with other options \(covariates: built 'temperature', asked ''\)\. Pass the"
      r" options it was built with")):
    load_forecasting_data("wide_table", tmp_path, file=str(table), covariates="")
  same = load(table, tmp_path)  # The same options: read as built.
  assert same.info.covariate_names == ("temperature", "holiday")
  # Options left out are read as built: `--file F.csv` alone.
  as_built = load_forecasting_data("wide_table", tmp_path, file=str(table))
  assert as_built.info.covariate_names == ("temperature", "holiday")
