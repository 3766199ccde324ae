"""METR-LA and PEMS-BAY: the DCRNN speed benchmarks (pandas HDF5 tables).

Each file is a pandas HDFStore with one DataFrame: a 5-minute `DatetimeIndex`
(rows = steps) and one column per sensor id, values in miles per hour, 0 where
missing. Reading needs pandas and PyTables (`tables`). The start time, step
and sensor ids come from the file; the sensor count is checked.

Build (bring the file)::

    python -m entropy_attention_jax data build metr_la --data-dir DIR --manual-dir M

with `M/metr-la.h5` (DCRNN's name) or `M/METR-LA/metr-la.h5`; likewise
`pems-bay.h5` for `pems_bay`.
"""

from __future__ import annotations

from typing import ClassVar

import tensorflow_datasets as tfds

from entropy_attention_jax.data.builders.base import SeriesBuilder, series_blocks
from entropy_attention_jax.data.readers import read_hdf_table

DCRNN_CITATION = """@inproceedings{li2018dcrnn,
  title={Diffusion Convolutional Recurrent Neural Network: Data-Driven Traffic Forecasting},
  author={Li, Yaguang and Yu, Rose and Shahabi, Cyrus and Liu, Yan},
  booktitle={ICLR}, year={2018}}"""


class _SpeedTableBuilder(SeriesBuilder, skip_registration=True):
  """Shared code: `SENSORS` columns of speed in one HDFStore table."""

  SENSORS: ClassVar[int]
  # DCRNN stored METR-LA under key "df" and PEMS-BAY under "speed"; files with
  # one table are read whatever its key.
  STORE_KEYS: ClassVar[tuple[str, ...]]
  DEFAULT_SPLIT_RATIOS = (0.7, 0.1, 0.2)
  DEFAULT_SCALING = "global"  # STAEformer's convention.
  DEFAULT_WINDOW = (12, 12)  # An hour of 5-minute steps -> the next hour.
  HOMEPAGE = "https://github.com/liyaguang/DCRNN"
  CITATION = DCRNN_CITATION

  def _series_blocks(self, dl_manager: tfds.download.DownloadManager):
    path = self._manual_file(dl_manager)
    series = read_hdf_table(
        path,
        name=self.name,
        channel_name="speed",
        default_split_ratios=self.DEFAULT_SPLIT_RATIOS,
        keys=self.STORE_KEYS,
        num_nodes=self.SENSORS,
        description=self.DESCRIPTION,
    )
    return series_blocks(series, path)


class MetrLa(_SpeedTableBuilder):
  name = "metr_la"
  SENSORS = 207
  STORE_KEYS = ("df",)
  MANUAL_FILES = ("metr-la.h5", "METR-LA/metr-la.h5", "METR-LA.h5")
  DESCRIPTION = (
      "METR-LA: loop-detector speeds (mph) of 207 Los Angeles highway sensors,"
      " 34,272 5-minute steps from 2012-03-01 (DCRNN release)."
  )


class PemsBay(_SpeedTableBuilder):
  name = "pems_bay"
  SENSORS = 325
  STORE_KEYS = ("speed",)
  MANUAL_FILES = ("pems-bay.h5", "PEMS-BAY/pems-bay.h5", "PEMS-BAY.h5")
  DESCRIPTION = (
      "PEMS-BAY: speeds (mph) of 325 Bay Area sensors, 52,116 5-minute steps"
      " from 2017-01-01 (DCRNN release)."
  )
