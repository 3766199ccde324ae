"""`chicago_ridership`: daily entries of 20 Chicago "L" stations (shipped).

Real data that works offline: a converted copy of R modeldata's `Chicago`
table ships inside this package (see `entropy_attention_jax.data.chicago` for
the provenance and the 14-day lag it undoes). 5,698 daily steps x 20 stations,
one channel (thousands of entries). With daily steps, `steps_per_day` is 1:
the time-of-day feature is always 0 and the day-of-week feature carries the
weekly cycle. Default split 7:1:2 (about 11 years of training days, then 1.5
and 3 years)::

    python -m entropy_attention_jax data build chicago_ridership --data-dir DIR
"""

from __future__ import annotations

import json
import pathlib

import tensorflow_datasets as tfds

from entropy_attention_jax.data import chicago
from entropy_attention_jax.data.builders.base import SeriesBuilder, series_blocks


class ChicagoRidership(SeriesBuilder):
  """Chicago "L" ridership, 20 stations, daily, 2001-01-08 to 2016-08-14."""

  name = "chicago_ridership"
  DESCRIPTION = chicago.DESCRIPTION
  DEFAULT_SPLIT_RATIOS = chicago.DEFAULT_SPLIT_RATIOS
  HOMEPAGE = "https://modeldata.tidymodels.org/reference/Chicago.html"
  CITATION = """@book{kuhn2019feature,
  title={Feature Engineering and Selection: A Practical Approach for Predictive Models},
  author={Kuhn, Max and Johnson, Kjell}, publisher={CRC Press}, year={2019}}"""

  def source_file(self, manual_dir: str | pathlib.Path | None) -> pathlib.Path:
    del manual_dir  # The data ships with the package.
    return chicago.packaged_file()

  def _series_blocks(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The data ships with the package.
    path = chicago.packaged_file()
    provenance = json.loads(chicago.packaged_file(chicago.PROVENANCE_FILE).read_text())
    return series_blocks(chicago.read_chicago_ridership(path), path, provenance=provenance)
