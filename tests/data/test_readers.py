"""File readers: real formats read right, bad files named with the fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.data import DataError, MissingFileError
from entropy_attention_jax.data.calendar import parse_time_grid
from entropy_attention_jax.data.readers import read_hdf_table, read_npz_series, read_wide_table

from tests.data.conftest import speed_frame, wide_frame

NPZ_ARGS = dict(
    name="pems04", start="2018-01-01", step_seconds=300,
    channel_names=("flow", "occupancy", "speed"), default_split_ratios=(6, 2, 2), num_nodes=4,
)


def test_npz_values_and_facts(tmp_path):
  values = np.arange(30 * 4 * 3, dtype=np.float64).reshape(30, 4, 3)
  np.savez(tmp_path / "data.npz", data=values)
  series = read_npz_series(tmp_path / "data.npz", **NPZ_ARGS)
  np.testing.assert_array_equal(series.values, values.astype(np.float32))
  assert series.info.node_ids == ("0", "1", "2", "3")
  assert str(series.info.start) == "2018-01-01T00:00:00" and series.info.num_steps == 30


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.ones((30, 4, 3))}, r"no array named 'data' \(it has \['x'\]\)"),
        ({"data": np.ones((30, 4))}, r"must be \[steps, nodes, channels\], got shape \(30, 4\)"),
        ({"data": np.ones((30, 5, 3))}, r"has 5 nodes .* pems04 has 4 sensors"),
        ({"data": np.ones((30, 4, 1))}, r"has 1 channels .* pems04 has 3"),
        ({"data": np.array([[["a"] * 3] * 4] * 30)}, "non-numeric dtype"),
    ],
)
def test_npz_errors(tmp_path, arrays, message):
  np.savez(tmp_path / "data.npz", **arrays)
  with pytest.raises(DataError, match=message):
    read_npz_series(tmp_path / "data.npz", **NPZ_ARGS)


def test_npz_nan_is_missing_and_inf_names_step_and_node(tmp_path):
  values = np.ones((30, 4, 3))
  values[25, 2, 0] = np.nan
  np.savez(tmp_path / "data.npz", data=values)
  series = read_npz_series(tmp_path / "data.npz", **NPZ_ARGS)
  assert np.isnan(series.values[25, 2, 0])
  assert series.info.missing_value == 0.0  # PeMS: zeros are missing readings too.
  values[26, 3, 1] = np.inf
  np.savez(tmp_path / "data.npz", data=values)
  where = r"inf at step 26 \(2018-01-01 02:10:00\), node 3 \(id '3'\), channel 1"
  with pytest.raises(DataError, match=where):
    read_npz_series(tmp_path / "data.npz", **NPZ_ARGS)


def test_missing_and_unreadable_files(tmp_path):
  with pytest.raises(MissingFileError, match="does not exist"):
    read_npz_series(tmp_path / "nope.npz", **NPZ_ARGS)
  (tmp_path / "junk.npz").write_bytes(b"not a zip")
  with pytest.raises(DataError, match="not a readable .npz"):
    read_npz_series(tmp_path / "junk.npz", **NPZ_ARGS)
  (tmp_path / "junk.h5").write_bytes(b"not hdf5")
  with pytest.raises(DataError, match="could not read .* as a pandas HDFStore"):
    read_hdf_table(tmp_path / "junk.h5", name="metr_la", channel_name="speed", default_split_ratios=(7, 1, 2))


def test_hdf_table(tmp_path):
  frame = speed_frame("2012-03-01", 6, int_columns=True, steps=50)
  frame.to_hdf(tmp_path / "t.h5", key="speed")
  series = read_hdf_table(tmp_path / "t.h5", name="pems_bay", channel_name="speed",
                          default_split_ratios=(7, 1, 2), keys=("speed",), num_nodes=6)
  np.testing.assert_array_equal(series.values[:, :, 0], frame.to_numpy(np.float32))
  assert series.info.node_ids[0] == "400001" and series.info.step_seconds == 300
  assert series.info.start == np.datetime64("2012-03-01T00:00:00")


def test_hdf_errors(tmp_path):
  frame = speed_frame("2012-03-01", 6, int_columns=False, steps=50)
  frame.to_hdf(tmp_path / "two.h5", key="a")
  frame.to_hdf(tmp_path / "two.h5", key="b")
  args = dict(name="metr_la", channel_name="speed", default_split_ratios=(7, 1, 2))
  with pytest.raises(DataError, match=r"holds 2 tables \['a', 'b'\]"):
    read_hdf_table(tmp_path / "two.h5", keys=("df",), **args)
  frame.drop(frame.index[20]).to_hdf(tmp_path / "gap.h5", key="df")
  gap = r"rows 19 -> 20 go from 2012-03-01 01:35:00 to 2012-03-01 01:45:00 \(600 s\)"
  with pytest.raises(DataError, match=gap):
    read_hdf_table(tmp_path / "gap.h5", **args)
  frame.reset_index(drop=True).to_hdf(tmp_path / "noindex.h5", key="df")
  with pytest.raises(DataError, match="indexed by time"):
    read_hdf_table(tmp_path / "noindex.h5", **args)
  with pytest.raises(DataError, match="has 6 sensor columns; metr_la has 207"):
    read_hdf_table(tmp_path / "gap.h5", num_nodes=207, **args)


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "parquet"])
def test_wide_table_formats(tmp_path, suffix):
  frame = wide_frame(steps=40, nodes=3)
  path = tmp_path / f"t.{suffix}"
  frame.to_parquet(path) if suffix == "parquet" else frame.to_csv(path, index=False)
  series = read_wide_table(path)
  np.testing.assert_allclose(series.values[:, :, 0], frame.iloc[:, 1:].to_numpy(), rtol=1e-6)
  assert series.info.node_ids == ("sensor_0", "sensor_1", "sensor_2")
  assert series.info.step_seconds == 900 and series.info.steps_per_day == 96


def test_wide_table_named_timestamp_column_and_tz(tmp_path):
  frame = wide_frame(steps=40, nodes=3)
  frame = frame[["sensor_0", "timestamp", "sensor_1"]]
  frame["timestamp"] = frame["timestamp"].dt.tz_localize("America/Los_Angeles")
  frame.to_parquet(tmp_path / "t.parquet")
  series = read_wide_table(tmp_path / "t.parquet", timestamp_column="timestamp")
  assert series.info.node_ids == ("sensor_0", "sensor_1")
  # Local wall-clock time is kept (not converted to UTC), with its offset.
  assert series.info.start == np.datetime64("2021-06-01T00:00:00")
  assert series.info.timezone == "America/Los_Angeles"
  assert series.info.utc_offsets == ((0, -7 * 3600),)
  np.testing.assert_allclose(series.info.time_of_day()[:2], [0, 15 / 1440])


def test_wide_table_errors(tmp_path):
  frame = wide_frame(steps=40, nodes=3)
  frame.loc[7, "sensor_1"] = np.inf
  frame.to_csv(tmp_path / "inf.csv", index=False)
  with pytest.raises(DataError, match=r"inf at step 7 \(2021-06-01 01:45:00\), node 1 \(id 'sensor_1'\)"):
    read_wide_table(tmp_path / "inf.csv")
  frame = wide_frame(steps=40, nodes=3).astype({"sensor_2": object})
  frame.loc[5, "sensor_2"] = "broken"
  frame.to_csv(tmp_path / "text.csv", index=False)
  with pytest.raises(DataError, match=r"column 'sensor_2' is not numeric; row 5 holds 'broken'"):
    read_wide_table(tmp_path / "text.csv")
  with pytest.raises(DataError, match="has no column 'time'"):
    read_wide_table(tmp_path / "text.csv", timestamp_column="time")
  (tmp_path / "t.xlsx").write_text("x")
  with pytest.raises(DataError, match="cannot tell the format"):
    read_wide_table(tmp_path / "t.xlsx")
  wide_frame(steps=40, nodes=2).iloc[::-1].to_csv(tmp_path / "reversed.csv", index=False)
  with pytest.raises(DataError, match="sorted and unique; row 1 goes back to"):
    read_wide_table(tmp_path / "reversed.csv")


def test_time_grid_errors():
  with pytest.raises(DataError, match="at least three"):
    parse_time_grid(pd.to_datetime(["2020-01-01", "2020-01-02"]), "t")
  with pytest.raises(DataError, match="row 1 is missing"):
    parse_time_grid(pd.to_datetime(["2020-01-01", None, "2020-01-03"]), "t")
  with pytest.raises(DataError, match="fraction of a second"):
    parse_time_grid(
        pd.to_datetime(["2020-01-01 00:00:00.5", "2020-01-01 00:00:01.5", "2020-01-01 00:00:02.5"]),
        "t",
    )
