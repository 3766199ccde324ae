"""Tiny files in the exact formats of the real benchmark files.

PeMS: `np.savez` with `data` `[steps, sensors, channels]` float64 (the real
sensor and channel counts, few steps). METR-LA / PEMS-BAY: pandas HDFStores
written with `DataFrame.to_hdf` under DCRNN's keys (`df`, `speed`), a 5-minute
`DatetimeIndex` and one column per sensor id. Wide tables: CSV and Parquet with
a timestamp column and one column per node.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
import pytest

from entropy_attention_jax.data.builders.pems import PEMS_FACTS

STEPS = 240  # Enough for 12 -> 12 windows in every split at 6:2:2 and 7:1:2.


def pems_values(key: str, steps: int = STEPS, seed: int = 0) -> np.ndarray:
  facts = PEMS_FACTS[key]
  rng = np.random.default_rng(seed)
  values = rng.integers(0, 600, (steps, facts.sensors, len(facts.channels))).astype(np.float64)
  values[rng.random(values.shape) < 0.01] = 0.0  # Missing readings, as in PeMS.
  return values


def speed_frame(
    start: str, sensors: int, int_columns: bool, steps: int = STEPS, seed: int = 0
) -> pd.DataFrame:
  rng = np.random.default_rng(seed)
  speeds = rng.uniform(5, 70, (steps, sensors))
  speeds[rng.random(speeds.shape) < 0.02] = 0.0
  ids = [400001 + i for i in range(sensors)] if int_columns else [str(717000 + 7 * i) for i in range(sensors)]
  return pd.DataFrame(
      speeds, index=pd.date_range(start, periods=steps, freq="5min"), columns=ids
  )


def wide_frame(steps: int = 300, nodes: int = 5, seed: int = 0) -> pd.DataFrame:
  rng = np.random.default_rng(seed)
  frame = pd.DataFrame(rng.uniform(0, 100, (steps, nodes)), columns=[f"sensor_{i}" for i in range(nodes)])
  frame.insert(0, "timestamp", pd.date_range("2021-06-01", periods=steps, freq="15min"))
  return frame


@pytest.fixture(scope="session")
def manual_dir(tmp_path_factory) -> pathlib.Path:
  """A manual directory laid out as users get the files (several layouts)."""
  root = tmp_path_factory.mktemp("manual")
  # STAEformer layout, ASTGCN layout, flat name, flat name.
  layouts = {
      "PEMS03": "PEMS03/PEMS03.npz", "PEMS04": "PEMS04/data.npz",
      "PEMS07": "PEMS07.npz", "PEMS08": "PEMS08/data.npz",
  }
  for seed, (key, relative) in enumerate(layouts.items()):
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    np.savez(root / relative, data=pems_values(key, seed=seed))
  speed_frame("2012-03-01", 207, int_columns=False).to_hdf(root / "metr-la.h5", key="df")
  speed_frame("2017-01-01", 325, int_columns=True, seed=1).to_hdf(root / "pems-bay.h5", key="speed")
  return root


@pytest.fixture(scope="session")
def table_files(tmp_path_factory) -> dict[str, pathlib.Path]:
  root = tmp_path_factory.mktemp("tables")
  frame = wide_frame()
  paths = {"csv": root / "city traffic.csv", "parquet": root / "city.parquet"}
  frame.to_csv(paths["csv"], index=False)
  frame.to_parquet(paths["parquet"])
  return paths
