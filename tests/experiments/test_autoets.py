"""experiments/_autoets.py: AutoETS and naive baselines on the library's test windows."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.data.windows import split_windows

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "experiments"))
import _autoets  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

T = 120
SETTINGS = dict(season_length=12, in_steps=24, out_steps=12, split_ratios=(0.7, 0.1, 0.2), freq="MS")


def seasonal_frame(noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
  """Monthly: a pure season `a` and a trend + season + noise `b`."""
  rng = np.random.default_rng(seed)
  t = np.arange(T)
  return pd.DataFrame({
      "month": pd.date_range("2000-01-01", periods=T, freq="MS"),
      "a": 100 + 10 * np.sin(2 * np.pi * t / 12),
      "b": 50 + 0.5 * t + 5 * np.cos(2 * np.pi * t / 12) + noise * rng.standard_normal(T),
  })


def hand_windows():
  windows = split_windows(T, 24, 12, (0.7, 0.1, 0.2))
  return windows.test, windows.test[:, None] + 24 + np.arange(12)  # Starts, target steps.


def test_naive_baselines_match_hand_computed_windows():
  frame = seasonal_frame(noise=1.0)
  y = frame["b"].to_numpy()
  starts, targets = hand_windows()
  result = _autoets.naive_metrics(frame, "month", ["b"], **SETTINGS)
  truth = y[targets]
  last = y[starts + 23][:, None]
  h = np.arange(12)
  seasonal = y[starts[:, None] + 24 + h - 12 * np.ceil((h + 1) / 12).astype(int)]
  mean = np.stack([y[s:s + 24].mean() for s in starts])[:, None]
  for name, forecast in (("last", last), ("seasonal", seasonal), ("mean", mean)):
    error = np.abs(forecast - truth)
    assert result[name]["mae"] == pytest.approx(error.mean(), rel=1e-12)
    np.testing.assert_allclose(result[name]["horizon"]["mae"], error.mean(0), rtol=1e-12)
    assert result[name]["rmse"] == pytest.approx(np.sqrt((error**2).mean()), rel=1e-12)
    assert result[name]["mape"] == pytest.approx(100 * (error / np.abs(truth)).mean(), rel=1e-12)
    assert result[name]["scored"] == truth.size and result[name]["windows"] == len(starts)
  scale = y[:84].std()  # Training period [0, b1) of 120 steps at 0.7.
  assert result["last"]["scaled_mae"] == pytest.approx(result["last"]["mae"] / scale, rel=1e-12)
  # The pure season is forecast exactly by the seasonal naive only.
  exact = _autoets.naive_metrics(frame, "month", ["a"], **SETTINGS)
  assert exact["seasonal"]["mae"] < 1e-12 < exact["last"]["mae"]


def test_autoets_nearly_exact_on_a_noiseless_season_and_aligned():
  pytest.importorskip("statsforecast")
  frame = seasonal_frame(noise=0.0)
  result = _autoets.autoets_metrics(frame, "month", ["a", "b"], **SETTINGS, return_predictions=True)
  assert result["series_mae"]["a"] < 1e-6
  assert result["series_mae"]["b"] < 0.05 * 5
  starts, targets = hand_windows()
  assert result["windows"] == len(starts) and result["boundaries"] == [84, 96]
  # Aligned: the forecasts of the pure season equal its values at the target steps.
  np.testing.assert_allclose(result["predictions"][:, :, 0], frame["a"].to_numpy()[targets], atol=1e-6)
  assert result["seconds"] > 0 and result["skipped"] == [] and result["fit_on_val"] == []


def test_autoets_equals_statsforecast_cross_validation_without_refit():
  pytest.importorskip("statsforecast")
  from statsforecast import StatsForecast  # pylint: disable=g-import-not-at-top
  from statsforecast.models import AutoETS  # pylint: disable=g-import-not-at-top

  frame = seasonal_frame(noise=1.0)
  # Without a validation period the training period ends at the first test origin,
  # where cross_validation(refit=False) fits.
  settings = dict(SETTINGS, split_ratios=(0.8, 0.0, 0.2))
  ours = _autoets.autoets_metrics(frame, "month", ["b"], **settings, return_predictions=True)
  long = frame[["month", "b"]].rename(columns={"month": "ds", "b": "y"}).assign(unique_id="b")
  cv = StatsForecast(models=[AutoETS(season_length=12)], freq="MS", n_jobs=1).cross_validation(
      df=long, h=12, n_windows=ours["windows"], step_size=1, refit=False
  )
  theirs = cv.sort_values(["cutoff", "ds"])["AutoETS"].to_numpy().reshape(-1, 12)
  np.testing.assert_allclose(ours["predictions"][:, :, 0], theirs, rtol=1e-10)


def test_missing_values_are_imputed_causally_and_not_scored():
  pytest.importorskip("statsforecast")
  frame = seasonal_frame(noise=1.0)
  frame.loc[10:14, "b"] = np.nan  # A training gap.
  frame.loc[100:103, "b"] = np.nan  # A test gap: targets and inputs.
  frame.loc[0:5, "a"] = np.nan  # A late start.
  result = _autoets.autoets_metrics(frame, "month", ["a", "b"], **SETTINGS, return_predictions=True)
  naive = _autoets.naive_metrics(frame, "month", ["a", "b"], **SETTINGS)
  starts, targets = hand_windows()
  observed_targets = int(frame[["a", "b"]].notna().to_numpy()[targets].sum())
  assert result["scored"] == observed_targets == naive["last"]["scored"]
  assert np.isfinite(result["mae"]) and not result["skipped"]
  # Changing values after an origin leaves that origin's forecast unchanged.
  origin = 101  # Inside the test gap: the history ends in an open gap (forward fill).
  changed = frame.copy()
  changed.loc[origin + 1:, "b"] = 0.0
  again = _autoets.autoets_metrics(changed, "month", ["a", "b"], **SETTINGS, return_predictions=True)
  early = starts + 23 <= origin
  np.testing.assert_array_equal(again["predictions"][early], result["predictions"][early])
  assert not np.allclose(again["predictions"][~early, :, 1], result["predictions"][~early, :, 1])


def test_zero_targets_are_scored_but_left_out_of_mape():
  frame = seasonal_frame(noise=1.0)
  frame.loc[110, "b"] = 0.0
  with_zero = _autoets.naive_metrics(frame, "month", ["b"], **SETTINGS)["last"]
  assert with_zero["scored"] == with_zero["scored_nonzero"] + int((hand_windows()[1] == 110).sum())
  assert np.isfinite(with_zero["mape"])


def test_irregular_timestamps_are_refused():
  frame = seasonal_frame().drop(index=50).reset_index(drop=True)
  with pytest.raises(ValueError, match="regular"):
    _autoets.naive_metrics(frame, "month", ["a"], **dict(SETTINGS, split_ratios=(0.7, 0.1, 0.2)))
