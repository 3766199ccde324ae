"""Forecasting batches: contents, scaling, deterministic order, exact resume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from entropy_attention_jax.data import (
    DataError, Series, SeriesInfo, StandardScaler, load_forecasting_data, make_forecasting_data,
)

STEPS, NODES = 500, 6


@pytest.fixture(scope="module")
def series() -> Series:
  rng = np.random.default_rng(0)
  values = rng.uniform(0, 100, (STEPS, NODES, 3)).astype(np.float32)
  values[rng.random(values.shape) < 0.05] = 0.0
  info = SeriesInfo(
      name="toy", start="2018-01-05T23:00:00", step_seconds=300, num_steps=STEPS,
      channel_names=("flow", "occupancy", "speed"), node_ids=[f"n{i}" for i in range(NODES)],
      default_split_ratios=(0.6, 0.2, 0.2),
  )
  return Series(values, info)


@pytest.fixture(scope="module")
def data(series):
  # "toy" is no registered dataset, so it would be scaled per node by default;
  # these tests check the traffic benchmarks' global scaling.
  return make_forecasting_data(series, in_steps=12, out_steps=6, batch_size=8, scaling="global")


def test_sample_contents(series, data):
  info = series.info
  split = data.val
  sample = split[3]
  s = int(split.starts[3])
  signal = series.values[s : s + 12, :, 0]
  z_scores = (signal - data.scaler.mean[0]) / data.scaler.std[0]
  np.testing.assert_allclose(sample["x"][..., 0], z_scores, rtol=1e-6)
  tod, dow = info.time_of_day()[s : s + 12, None], info.day_of_week()[s : s + 12, None]
  np.testing.assert_allclose(sample["x"][..., 1], np.broadcast_to(tod, (12, NODES)))
  np.testing.assert_array_equal(sample["x"][..., 2], np.broadcast_to(dow, (12, NODES)))
  np.testing.assert_array_equal(sample["y"][..., 0], series.values[s + 12 : s + 18, :, 0])  # Original scale.
  assert sample["x"].dtype == np.float32 and sample["y"].dtype == np.float32
  assert (data.num_input_channels, data.num_features) == (1, 3)
  assert (data.time_of_day_index, data.day_of_week_index) == (1, 2)
  assert data.steps_per_day == 288 and data.num_nodes == NODES


def test_time_features_cross_midnight_and_the_week(data):
  # The series starts Friday 23:00: the first training window crosses into Saturday.
  x = data.train[0]["x"]
  np.testing.assert_allclose(x[:, 0, 1], (23 * 60 + 5 * np.arange(12)) % 1440 / 1440, atol=1e-7)
  np.testing.assert_array_equal(x[:, 0, 2], [4] * 12)
  assert data.train[12]["x"][0, 0, 2] == 5


def test_batches_stack_samples_and_keep_the_last_partial_batch(data):
  batches = list(data.test.batches())
  assert len(batches) == data.test.num_batches() == -(-len(data.test) // 8)
  assert batches[-1]["x"].shape[0] == len(data.test) - 8 * (len(batches) - 1)
  assert batches[0]["x"].shape == (8, 12, NODES, 3) and batches[0]["y"].shape == (8, 6, NODES, 1)
  np.testing.assert_array_equal(batches[1]["y"][2], data.test[10]["y"])
  dropped = list(data.test.batches(drop_remainder=True))
  assert len(dropped) == data.test.num_batches(drop_remainder=True) == len(data.test) // 8
  assert all(b["x"].shape[0] == 8 for b in dropped)


def test_shuffle_is_a_function_of_seed_and_epoch(data):
  def ys(**kwargs):
    return np.concatenate([b["y"] for b in data.train.batches(16, shuffle=True, **kwargs)])

  first = ys(seed=0, epoch=0)
  np.testing.assert_array_equal(first, ys(seed=0, epoch=0))
  assert not np.array_equal(first, ys(seed=0, epoch=1))
  assert not np.array_equal(first, ys(seed=1, epoch=0))
  # Every window exactly once per epoch.
  ordered = np.concatenate([b["y"] for b in data.train.batches(16)])
  order = data.train.order(shuffle=True, seed=0, epoch=0)
  np.testing.assert_array_equal(first, ordered[order])
  assert sorted(order.tolist()) == list(range(len(data.train)))


def test_start_batch_resumes_exactly(data):
  kwargs = dict(shuffle=True, seed=3, epoch=7, drop_remainder=True)
  full = list(data.train.batches(16, **kwargs))
  resumed = list(data.train.batches(16, start_batch=17, **kwargs))
  assert len(resumed) == len(full) - 17
  for a, b in zip(full[17:], resumed):
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["y"], b["y"])
  assert list(data.train.batches(16, start_batch=len(full), **kwargs)) == []
  with pytest.raises(DataError, match=r"start_batch must be an integer in \[0, 17\]"):
    data.train.batches(16, start_batch=18, **kwargs)  # Checked before iterating.


def test_scaler_is_fit_on_training_inputs_only(series, data):
  fit_end = int(data.train.starts[-1]) + 12  # Steps the training inputs read.
  assert fit_end == data.boundaries[0] - 6
  expected = StandardScaler.fit(series.values[:fit_end, :, :1])
  np.testing.assert_array_equal(data.scaler.mean, expected.mean)
  np.testing.assert_array_equal(data.scaler.std, expected.std)
  inputs = np.concatenate([b["x"][..., 0] for b in data.train.batches()])
  # Each step counts once per window reading it (STAEformer's fit), still close.
  assert abs(inputs.mean()) < 0.05 and abs(inputs.std() - 1) < 0.05
  assert data.scaling == "global" and data.scaler.mean.shape == (1,)
  ignoring = make_forecasting_data(
      series, in_steps=12, out_steps=6, scaler_ignore_zeros=True, scaling="global"
  )
  assert ignoring.scaler.mean[0] > data.scaler.mean[0]


def test_extra_input_channels(series):
  data = make_forecasting_data(
      series, in_steps=4, out_steps=2, input_channels=("flow", 2), scaling="global"
  )
  assert data.input_channels == (0, 2) and data.num_features == 4 and data.time_of_day_index == 2
  sample = data.val[0]
  s = int(data.val.starts[0])
  np.testing.assert_allclose(
      sample["x"][..., :2], data.scaler.transform(series.values[s : s + 4][..., [0, 2]]), rtol=1e-6
  )
  assert data.scaler.channel_names == ("flow", "speed")
  np.testing.assert_array_equal(sample["y"][..., 0], series.values[s + 4 : s + 6, :, 0])
  bad_channels = [
      ((1, 0), "must start with the target"), (("flow", "volume"), "no channel 'volume'"),
      ((0, 5), "not one of 0..2"), ((0, 0), "not repeat"),
  ]
  for channels, message in bad_channels:
    with pytest.raises(DataError, match=message):
      make_forecasting_data(series, in_steps=4, out_steps=2, input_channels=channels)


def test_per_node_scaling_is_the_default_outside_the_benchmarks(series, data):
  per_node = make_forecasting_data(series, in_steps=12, out_steps=6)
  assert per_node.scaling == "per_node" and per_node.scaler.mean.shape == (NODES, 1)
  fit_end = int(per_node.train.starts[-1]) + 12
  np.testing.assert_allclose(
      per_node.scaler.mean[:, 0], series.values[:fit_end, :, 0].mean(axis=0), rtol=1e-5
  )
  s = int(per_node.val.starts[0])
  z = (series.values[s : s + 12, :, 0] - per_node.scaler.mean[:, 0]) / per_node.scaler.std[:, 0]
  np.testing.assert_allclose(per_node.val[0]["x"][..., 0], z, rtol=1e-5, atol=1e-6)
  # Same windows and targets either way.
  np.testing.assert_array_equal(per_node.val.starts, data.val.starts)
  np.testing.assert_array_equal(per_node.val[0]["y"], data.val[0]["y"])
  with pytest.raises(DataError, match="scaling must be one of"):
    make_forecasting_data(series, in_steps=12, out_steps=6, scaling="per_channel")


def test_default_window_follows_the_frequency(series):
  # "toy" has no dataset convention: 5-minute steps default to a day -> 24 steps.
  data = make_forecasting_data(series, split_ratios=(0.8, 0.1, 0.1))
  assert (data.in_steps, data.out_steps) == (288, 24)


def test_bad_arguments(series, data):
  with pytest.raises(DataError, match="too short for one window"):
    make_forecasting_data(series, in_steps=400, out_steps=200)
  with pytest.raises(DataError, match="batch_size must be an integer >= 1"):
    make_forecasting_data(series, batch_size=0)
  with pytest.raises(DataError, match="seed must be an integer >= 0"):
    data.train.batches(shuffle=True, seed=-1)
  with pytest.raises(IndexError, match="out of range"):
    data.test[len(data.test)]


def test_split_ratios_override_the_default(series):
  data = make_forecasting_data(series, split_ratios=(0.7, 0.1, 0.2))
  assert data.boundaries == (350, 400) and data.split_ratios == pytest.approx((0.7, 0.1, 0.2))


def test_load_forecasting_data_builds_and_records_its_options(tmp_path):
  data = load_forecasting_data(
      "synthetic_traffic", tmp_path, nodes=10, days=3, seed=2, in_steps=6, out_steps=3
  )
  assert data.num_nodes == 10 and data.info.config_name == "nodes10_days3_seed2"
  assert data.options["nodes"] == 10 and data.options["in_steps"] == 6
  again = load_forecasting_data(**{**data.options, "build_if_missing": False})
  np.testing.assert_array_equal(again.scaler.mean, data.scaler.mean)
  pairs = zip(data.train.batches(4, shuffle=True), again.train.batches(4, shuffle=True))
  for a, b in itertools.islice(pairs, 3):
    np.testing.assert_array_equal(a["x"], b["x"])


def test_grain_reads_a_split_as_a_random_access_source(data):
  grain = pytest.importorskip("grain")
  dataset = grain.MapDataset.source(data.val).batch(8)
  first = dataset[0]
  np.testing.assert_array_equal(first["x"], next(data.val.batches(8))["x"])
