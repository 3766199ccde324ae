"""SeriesInfo facts, time features and the finiteness check of Series."""

from __future__ import annotations

import json

import numpy as np
import pytest

from entropy_attention_jax.data import DataError, Series, SeriesInfo


def make_info(**overrides) -> SeriesInfo:
  fields = dict(
      name="toy", start="2018-01-01T00:00:00", step_seconds=300, num_steps=600,
      channel_names=("flow", "speed"), node_ids=("a", "b", "c"),
      default_split_ratios=(0.6, 0.2, 0.2),
  )
  fields.update(overrides)
  return SeriesInfo(**fields)


def test_time_features_follow_the_clock():
  info = make_info()  # 2018-01-01 was a Monday.
  assert info.steps_per_day == 288
  tod, dow = info.time_of_day(), info.day_of_week()
  assert tod.dtype == np.float32 and dow.dtype == np.float32
  np.testing.assert_allclose(tod[[0, 6, 144, 287, 288]], [0, 30 / 1440, 0.5, 287 / 288, 0])
  np.testing.assert_array_equal(dow[[0, 287, 288, 599]], [0, 0, 1, 2])
  assert np.all((tod >= 0) & (tod < 1))
  assert str(info.end) == "2018-01-03T01:55:00"


def test_daily_steps_have_zero_time_of_day():
  info = make_info(start="2001-01-08", step_seconds=86_400, num_steps=10)  # A Monday.
  assert info.steps_per_day == 1
  np.testing.assert_array_equal(info.time_of_day(), np.zeros(10))
  np.testing.assert_array_equal(info.day_of_week(), [0, 1, 2, 3, 4, 5, 6, 0, 1, 2])


def test_metadata_round_trip_through_json():
  info = make_info(extra={"zero_readings": [1, 2]}, description="d")
  again = SeriesInfo.from_metadata(json.loads(json.dumps(info.to_metadata())))
  assert again == info


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"step_seconds": 7}, "must divide a day"),
        ({"step_seconds": 0}, "positive whole number of seconds"),
        ({"step_seconds": 86_400 + 3600}, "whole days"),
        ({"frequency": "WEEKLY", "step_seconds": 0}, "unknown calendar frequency"),
        ({"node_ids": ("a", "b", "a")}, "'a' appears more than once"),
        ({"num_steps": 0}, "no steps"),
        ({"channel_names": ()}, "at least one channel"),
    ],
)
def test_bad_info(overrides, message):
  with pytest.raises(DataError, match=message):
    make_info(**overrides)


def test_metadata_from_elsewhere_is_rejected():
  with pytest.raises(DataError, match=r"lacks \['start'"):
    SeriesInfo.from_metadata({"name": "x"}, data_path="/some/where")


def test_nan_is_accepted_as_missing():
  info = make_info()
  values = np.ones((600, 3, 2), np.float32)
  values[300, 1, 1] = np.nan
  series = Series(values, info)
  assert np.isnan(series.values[300, 1, 1])
  assert series.missing_counts() == {"flow": 0, "speed": 1}


def test_infinite_value_is_reported_with_its_position():
  info = make_info()
  values = np.ones((600, 3, 2), np.float32)
  values[300, 1, 1] = np.nan  # Allowed: missing.
  values[400, 0, 0] = np.inf
  values[500, 2, 1] = -np.inf
  with pytest.raises(DataError, match=(
      r"2 value\(s\) infinite; the first is inf at step 400 \(2018-01-02 09:20:00\),"
      r" node 0 \(id 'a'\), channel 0 \('flow'\)")):
    Series(values, info)


def test_huge_value_is_reported_with_its_position():
  values = np.ones((600, 3, 2), np.float32)
  values[17, 2, 0] = -1e30
  with pytest.raises(DataError, match=(
      r"larger than 1e\+15 in magnitude; the first is -1\.0\d*e\+30 at step 17 \(2018-01-01 01:25:00\),"
      r" node 2 \(id 'c'\), channel 0")):
    Series(values, make_info())
  values[17, 2, 0] = 1e14  # Below the limit: accepted.
  Series(values, make_info())


def test_missing_value_marks_zeros_missing():
  values = np.ones((600, 3, 2), np.float32)
  values[5, 0, 0] = 0.0
  values[6, 1, 0] = np.nan
  assert Series(values, make_info()).missing_counts() == {"flow": 1, "speed": 0}
  assert Series(values, make_info(missing_value=0.0)).missing_counts() == {"flow": 2, "speed": 0}


def test_shape_must_match_the_info():
  with pytest.raises(DataError, match=r"shape \(600, 2, 2\) but the metadata says .* \[600, 3, 2\]"):
    Series(np.ones((600, 2, 2)), make_info())
  with pytest.raises(DataError, match="must be \\[steps, nodes, channels\\]"):
    Series(np.ones((600, 3)), make_info())


def test_values_become_float32():
  series = Series(np.ones((600, 3, 2), np.float64), make_info())
  assert series.values.dtype == np.float32
