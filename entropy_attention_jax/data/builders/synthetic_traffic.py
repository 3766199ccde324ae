"""`synthetic_traffic`: the deterministic road-traffic generator as a dataset.

The default for demos and tests, and the scale test (10,000 nodes, weeks of
5-minute steps): days are generated one at a time and written as they come,
so the generator never holds the whole series. Options: `nodes`, `days`,
`seed`; each combination is its own builder config
(`<data-dir>/synthetic_traffic/nodes20_days14_seed0/1.0.0`)::

    python -m entropy_attention_jax data build synthetic_traffic --data-dir DIR \\
        --nodes 10000 --days 21 --seed 0
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from entropy_attention_jax.data.builders.base import BuilderOption, SeriesBuilder
from entropy_attention_jax.data.errors import check_integer
from entropy_attention_jax.data.series import SeriesInfo
from entropy_attention_jax.data.synthetic import TrafficModel, road_graph, simulate_traffic

# A Monday, so day-of-week index 0 is day 0.
START = "2024-01-01T00:00:00"
STEP_SECONDS = 300


@dataclasses.dataclass(eq=False)
class SyntheticTrafficConfig(tfds.core.BuilderConfig):
  """Size and seed of a synthetic series."""

  nodes: int = 20
  days: int = 14
  seed: int = 0


def config_name(nodes: int, days: int, seed: int) -> str:
  return f"nodes{nodes}_days{days}_seed{seed}"


class SyntheticTraffic(SeriesBuilder):
  """Synthetic PeMS-like traffic flow on a random road graph."""

  name = "synthetic_traffic"
  DESCRIPTION = (
      "Synthetic traffic flow (vehicles per 5 minutes) on a random road graph:"
      " daily and weekly cycles, incidents spreading along roads, counting"
      " noise, missing readings as zeros. Deterministic from the seed."
  )
  DEFAULT_SPLIT_RATIOS = (0.6, 0.2, 0.2)
  DEFAULT_SCALING = "global"  # STAEformer's convention.
  DEFAULT_WINDOW = (12, 12)  # An hour of 5-minute steps -> the next hour.
  OPTIONS = (
      BuilderOption("nodes", int, 20, "number of road sensors (nodes), >= 2"),
      BuilderOption("days", int, 14, "number of days of 5-minute steps, >= 1"),
      BuilderOption("seed", int, 0, "random seed, >= 0"),
  )
  BUILDER_CONFIGS = [SyntheticTrafficConfig(name=config_name(20, 14, 0))]

  @classmethod
  def make_config(cls, *, nodes: int = 20, days: int = 14, seed: int = 0):
    context = "synthetic_traffic: "
    nodes = check_integer("nodes", nodes, 2, context)
    days = check_integer("days", days, 1, context)
    seed = check_integer("seed", seed, 0, context)
    name = config_name(nodes, days, seed)
    default = cls.BUILDER_CONFIGS[0]
    if name == default.name:  # TFDS wants the very object listed in BUILDER_CONFIGS.
      return default
    return SyntheticTrafficConfig(name=name, nodes=nodes, days=days, seed=seed)

  def _series_blocks(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to read.
    config = self.builder_config
    steps_per_day = 86_400 // STEP_SECONDS
    model = TrafficModel()
    graph = road_graph(config.nodes, seed=config.seed)
    info = SeriesInfo(
        name=self.name,
        start=np.datetime64(START, "s"),
        step_seconds=STEP_SECONDS,
        num_steps=config.days * steps_per_day,
        channel_names=("flow",),
        node_ids=tuple(str(i) for i in range(config.nodes)),
        default_split_ratios=self.DEFAULT_SPLIT_RATIOS,
        description=self.DESCRIPTION,
        missing_value=0.0,  # Missing readings are stored as zeros, as in PeMS.
        extra={
            "generator": {"nodes": config.nodes, "days": config.days, "seed": config.seed},
            "traffic_model": dataclasses.asdict(model),
            "road_edges": graph.num_edges,
            "graph_note": "road_graph(nodes, seed=seed) in"
            " entropy_attention_jax.data.synthetic rebuilds the sensor graph.",
        },
    )
    days = simulate_traffic(
        config.nodes, config.days, seed=config.seed, steps_per_day=steps_per_day,
        first_weekday=0, model=model, graph=graph,
    )
    return info, (day.flow[:, :, None] for day in days)
