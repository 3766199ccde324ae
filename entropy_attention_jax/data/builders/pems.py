"""PEMS03, PEMS04, PEMS07, PEMS08: Caltrans PeMS flow benchmarks (npz files).

The files are the ones distributed with ASTGCN/STSGCN and STAEformer: an
`np.savez` archive with `data` `[steps, sensors, channels]`, 5-minute steps, no
timestamps. Their sizes and start dates are known facts (below); the sensor
and channel counts are checked, the step count is recorded as found.

Build (no machine here downloads; bring the file)::

    python -m entropy_attention_jax data build pems04 --data-dir DIR --manual-dir M

with `M/PEMS04/data.npz` (STAEformer's layout), `M/PEMS04/PEMS04.npz`,
`M/PEMS04.npz` or `M/data.npz`.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import tensorflow_datasets as tfds

from entropy_attention_jax.data.builders.base import SeriesBuilder, series_blocks
from entropy_attention_jax.data.readers import read_npz_series


class PemsFacts(NamedTuple):
  """Published facts about one PeMS benchmark file."""

  sensors: int
  steps: int
  channels: tuple[str, ...]
  start: str


PEMS_FACTS: dict[str, PemsFacts] = {
    "PEMS03": PemsFacts(358, 26_208, ("flow",), "2018-09-01T00:00:00"),
    "PEMS04": PemsFacts(307, 16_992, ("flow", "occupancy", "speed"), "2018-01-01T00:00:00"),
    "PEMS07": PemsFacts(883, 28_224, ("flow",), "2017-05-01T00:00:00"),
    "PEMS08": PemsFacts(170, 17_856, ("flow", "occupancy", "speed"), "2016-07-01T00:00:00"),
}
PEMS_STEP_SECONDS = 300
PEMS_CITATION = """@inproceedings{guo2019astgcn,
  title={Attention Based Spatial-Temporal Graph Convolutional Networks for Traffic Flow Forecasting},
  author={Guo, Shengnan and Lin, Youfang and Feng, Ning and Song, Chao and Wan, Huaiyu},
  booktitle={AAAI}, year={2019}}"""


class _PemsBuilder(SeriesBuilder, skip_registration=True):
  """Shared code of the four PeMS builders; `KEY` names the benchmark."""

  KEY: ClassVar[str]
  DEFAULT_SPLIT_RATIOS = (0.6, 0.2, 0.2)
  DEFAULT_SCALING = "global"  # STAEformer's convention.
  DEFAULT_WINDOW = (12, 12)  # An hour of 5-minute steps -> the next hour.
  HOMEPAGE = "https://pems.dot.ca.gov/"
  CITATION = PEMS_CITATION

  def __init_subclass__(cls, **kwargs):
    if "KEY" in cls.__dict__:  # A benchmark: its files and description from KEY.
      key, facts = cls.KEY, PEMS_FACTS[cls.KEY]
      cls.MANUAL_FILES = (f"{key}/data.npz", f"{key}/{key}.npz", f"{key}.npz", "data.npz")
      cls.DESCRIPTION = (
          f"{key}: Caltrans PeMS traffic, {facts.sensors} sensors x {facts.steps:,}"
          f" 5-minute steps from {facts.start[:10]}, channels {list(facts.channels)}."
      )
    super().__init_subclass__(**kwargs)

  def _series_blocks(self, dl_manager: tfds.download.DownloadManager):
    path = self._manual_file(dl_manager)
    facts = PEMS_FACTS[self.KEY]
    series = read_npz_series(
        path,
        name=self.name,
        start=facts.start,
        step_seconds=PEMS_STEP_SECONDS,
        channel_names=facts.channels,
        default_split_ratios=self.DEFAULT_SPLIT_RATIOS,
        num_nodes=facts.sensors,
        description=self.DESCRIPTION,
    )
    return series_blocks(series, path, published_steps=facts.steps)


class Pems03(_PemsBuilder):
  name = "pems03"
  KEY = "PEMS03"


class Pems04(_PemsBuilder):
  name = "pems04"
  KEY = "PEMS04"


class Pems07(_PemsBuilder):
  name = "pems07"
  KEY = "PEMS07"


class Pems08(_PemsBuilder):
  name = "pems08"
  KEY = "PEMS08"
