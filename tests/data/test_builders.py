"""Builders: build from real-format files -> load -> the same values and facts."""

from __future__ import annotations

import pathlib
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow_datasets as tfds

from entropy_attention_jax.data import (
    DataError, MissingFileError, build_dataset, dataset_info, dataset_names, load_series,
    synthetic_traffic,
)
from entropy_attention_jax.data.builders import PEMS_FACTS, SERIES_SPLIT, Pems08
from entropy_attention_jax.data.readers import file_sha256
from entropy_attention_jax.data.registry import built_configs

from tests.data.conftest import STEPS, wide_frame

PEMS_FILES = {
    "pems03": "PEMS03/PEMS03.npz", "pems04": "PEMS04/data.npz",
    "pems07": "PEMS07.npz", "pems08": "PEMS08/data.npz",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> pathlib.Path:
  return tmp_path_factory.mktemp("tfds")


@pytest.mark.parametrize("name", sorted(PEMS_FILES))
def test_pems_round_trip(name, manual_dir, data_dir):
  facts = PEMS_FACTS[name.upper()]
  info = build_dataset(name, data_dir, manual_dir)
  assert info.num_nodes == facts.sensors and info.channel_names == facts.channels
  assert info.num_steps == STEPS and info.extra["published_steps"] == facts.steps
  assert str(info.start) == facts.start and info.step_seconds == 300
  path = manual_dir / PEMS_FILES[name]
  assert info.extra["source_file"] == path.name
  assert info.extra["source_sha256"] == file_sha256(path)
  series = load_series(name, data_dir, build_if_missing=False)
  with np.load(path) as archive:
    expected = archive["data"].astype(np.float32)
  np.testing.assert_array_equal(series.values, expected)
  assert info.extra["zero_readings"] == (expected == 0).sum(axis=(0, 1)).tolist()
  assert series.info.default_split_ratios == pytest.approx((0.6, 0.2, 0.2))
  assert "tensorflow" not in sys.modules  # Built and read without TensorFlow.


@pytest.mark.parametrize(
    "name, file, key", [("metr_la", "metr-la.h5", "df"), ("pems_bay", "pems-bay.h5", "speed")]
)
def test_speed_table_round_trip(name, file, key, manual_dir, data_dir):
  info = build_dataset(name, data_dir, manual_dir)
  frame = pd.read_hdf(manual_dir / file, key)
  series = load_series(name, data_dir)
  np.testing.assert_array_equal(series.values[:, :, 0], frame.to_numpy(np.float32))
  assert info.node_ids == tuple(str(c) for c in frame.columns)
  assert info.start == np.datetime64(frame.index[0].isoformat(timespec="seconds"))
  assert info.channel_names == ("speed",) and info.steps_per_day == 288
  assert info.default_split_ratios == pytest.approx((0.7, 0.1, 0.2))


def test_wide_tables_are_configs_named_after_their_files(table_files, data_dir):
  csv = build_dataset("wide_table", data_dir, file=table_files["csv"])
  parquet = build_dataset("wide_table", data_dir, file=table_files["parquet"])
  assert (csv.config_name, parquet.config_name) == ("city_traffic", "city")
  assert built_configs("wide_table", data_dir) == ["city", "city_traffic"]
  expected = wide_frame().iloc[:, 1:].to_numpy(np.float32)
  for file in table_files.values():
    series = load_series("wide_table", data_dir, file=str(file))
    np.testing.assert_allclose(series.values[:, :, 0], expected, rtol=1e-6)
  assert csv.step_seconds == 900 and csv.extra["source_file"] == str(table_files["csv"].resolve())
  with pytest.raises(DataError, match=r"several configs are built .*\['city', 'city_traffic'\].*--file"):
    dataset_info("wide_table", data_dir)


def test_synthetic_round_trip_streams_one_chunk_per_day(data_dir):
  info = build_dataset("synthetic_traffic", data_dir, nodes=12, days=3, seed=5)
  assert info.config_name == "nodes12_days3_seed5"
  assert info.data_path.endswith("synthetic_traffic/nodes12_days3_seed5/1.1.0")
  series = load_series("synthetic_traffic", data_dir, nodes=12, days=3, seed=5)
  np.testing.assert_array_equal(series.values, synthetic_traffic(12, 3, seed=5))
  source = tfds.builder_from_directory(info.data_path).as_data_source(SERIES_SPLIT)
  assert len(source) == 3 and source[1]["first_step"] == 288
  assert list(pathlib.Path(info.data_path).glob("*.array_record-*"))


def test_synthetic_default_config_and_resolution(tmp_path):
  series = load_series("synthetic_traffic", tmp_path)  # Builds the default config.
  assert series.values.shape == (14 * 288, 20, 1)
  assert dataset_info("synthetic_traffic", tmp_path).config_name == "nodes20_days14_seed0"
  build_dataset("synthetic_traffic", tmp_path, nodes=4, days=1)
  # With no options, the default config wins when it is built.
  assert dataset_info("synthetic_traffic", tmp_path).config_name == "nodes20_days14_seed0"
  shutil.rmtree(tmp_path / "synthetic_traffic" / "nodes20_days14_seed0")
  assert dataset_info("synthetic_traffic", tmp_path).config_name == "nodes4_days1_seed0"


def test_missing_manual_file_names_the_files_and_the_directory(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  with pytest.raises(MissingFileError) as error:
    build_dataset("pems04", tmp_path / "tfds", manual)
  message = str(error.value)
  assert "'PEMS04/data.npz'" in message and "'PEMS04.npz'" in message
  assert str(manual.resolve()) in message
  default_dir = tmp_path / "tfds" / "downloads" / "manual"
  with pytest.raises(MissingFileError, match=f"'metr-la.h5'.*{default_dir}"):
    build_dataset("metr_la", tmp_path / "tfds")
  assert not built_configs("pems04", tmp_path / "tfds")
  assert not (tmp_path / "tfds" / "pems04" / "1.1.0").exists()


def test_builder_used_through_tfds_directly(manual_dir, tmp_path):
  builder = Pems08(data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir), try_download_gcs=False)
  )
  assert builder.info.metadata["num_steps"] == STEPS
  empty = Pems08(data_dir=str(tmp_path / "other"), file_format="array_record")
  nowhere = tfds.download.DownloadConfig(manual_dir=str(tmp_path / "none"), try_download_gcs=False)
  with pytest.raises(MissingFileError, match="PEMS08/data.npz"):
    empty.download_and_prepare(download_config=nowhere)


def test_bad_file_fails_the_build_and_leaves_nothing(tmp_path):
  values = np.ones((STEPS, 170, 3))
  values[100, 5, 2] = np.inf
  (tmp_path / "manual").mkdir()
  np.savez(tmp_path / "manual" / "PEMS08.npz", data=values)
  with pytest.raises(DataError, match=r"inf at step 100 \(2016-07-01 08:20:00\), node 5"):
    build_dataset("pems08", tmp_path / "tfds", tmp_path / "manual")
  assert not built_configs("pems08", tmp_path / "tfds")
  assert not (tmp_path / "tfds" / "pems08" / "1.1.0" / "dataset_info.json").exists()


def test_changed_source_needs_overwrite(tmp_path):
  table = tmp_path / "mine.csv"
  wide_frame(steps=60, nodes=2).to_csv(table, index=False)
  # 60 steps: too short for the 15-minute default window (96 -> 24), fine for 4 -> 4.
  window = dict(in_steps=4, out_steps=4)
  build_dataset("wide_table", tmp_path, file=table, **window)
  build_dataset("wide_table", tmp_path, file=table)  # Same file: reused (no new check).
  changed = wide_frame(steps=60, nodes=2, seed=1)
  changed.to_csv(table, index=False)
  changed_file = r"built from '.*mine.csv' with SHA-256 \w{12}\.\.\., but .*a changed or different file"
  with pytest.raises(DataError, match=changed_file + ".*--overwrite"):
    build_dataset("wide_table", tmp_path, file=table)
  build_dataset("wide_table", tmp_path, overwrite=True, file=table, **window)
  np.testing.assert_allclose(
      load_series("wide_table", tmp_path).values[:, :, 0], changed.iloc[:, 1:].to_numpy(), rtol=1e-6
  )


def test_too_short_series_is_refused_and_removed(tmp_path):
  table = tmp_path / "short.csv"
  wide_frame(steps=60, nodes=2).to_csv(table, index=False)
  with pytest.raises(DataError, match=(
      r"wide_table: not built, the series is too short: .*60 steps.*96 \+ 24 = 120 steps")):
    build_dataset("wide_table", tmp_path, file=table)
  assert not built_configs("wide_table", tmp_path)
  assert not (tmp_path / "wide_table" / "short" / "1.1.0").exists()
  info = build_dataset("wide_table", tmp_path, file=table, in_steps=4, out_steps=4)
  assert info.num_steps == 60 and info.data_path.endswith("wide_table/short/1.1.0")


def test_unknown_names_and_options(tmp_path):
  known = ", ".join(dataset_names())
  with pytest.raises(DataError, match=f"Unknown dataset 'pems05'; known datasets: {known}"):
    build_dataset("pems05", tmp_path)
  with pytest.raises(DataError, match=r"pems04 takes no option 'nodes' \(its options: none\)"):
    build_dataset("pems04", tmp_path, nodes=3)
  with pytest.raises(DataError, match="option 'nodes' must be int"):
    build_dataset("synthetic_traffic", tmp_path, nodes="many")
  with pytest.raises(DataError, match="nodes must be an integer >= 2"):
    build_dataset("synthetic_traffic", tmp_path, nodes=1)
  with pytest.raises(DataError, match="wide_table needs the table file"):
    build_dataset("wide_table", tmp_path)
  with pytest.raises(MissingFileError, match="table file .*nope.csv' does not exist"):
    build_dataset("wide_table", tmp_path, file=tmp_path / "nope.csv")
  assert set(dataset_names()) == {
      "synthetic_traffic", "chicago_ridership", "pems03", "pems04", "pems07", "pems08",
      "metr_la", "pems_bay", "wide_table", "lagged_network",
  }


def test_not_built_without_building(tmp_path):
  with pytest.raises(DataError, match="pems03 is not built .* data build pems03 --data-dir"):
    load_series("pems03", tmp_path, build_if_missing=False)
  with pytest.raises(DataError, match="--nodes 7"):
    dataset_info("synthetic_traffic", tmp_path, nodes=7)
