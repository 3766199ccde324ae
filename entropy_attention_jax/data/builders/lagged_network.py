"""`lagged_network`: the sparse delayed-dependency generator as a dataset.

A benchmark that separates attention kinds: each node's future is a few
specific other nodes' delayed past (`entropy_attention_jax.data.lagged_network`),
so attention that cannot pick them (uniform weights) has nothing to read.
Options `nodes`, `days` (of 5-minute steps), `parents`, `max_delay`, `codes`
(extra constant channels: each node's own code and its parents' summed code;
0 for none), `seed`;
each combination is its own builder config::

    python -m entropy_attention_jax data build lagged_network --data-dir DIR \\
        --nodes 100 --days 7 --seed 0
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from entropy_attention_jax.data.builders.base import BuilderOption, SeriesBuilder
from entropy_attention_jax.data.errors import check_integer
from entropy_attention_jax.data.lagged_network import lagged_graph, node_codes, simulate_lagged
from entropy_attention_jax.data.series import SeriesInfo

START = "2024-01-01T00:00:00"
STEP_SECONDS = 300
STEPS_PER_DAY = 86_400 // STEP_SECONDS


@dataclasses.dataclass(eq=False)
class LaggedNetworkConfig(tfds.core.BuilderConfig):
  """Size, graph and seed of a lagged-network series."""

  nodes: int = 64
  days: int = 7
  parents: int = 2
  max_delay: int = 6
  codes: int = 0
  seed: int = 0


def config_name(nodes: int, days: int, parents: int, max_delay: int, codes: int, seed: int) -> str:
  return f"nodes{nodes}_days{days}_parents{parents}_delay{max_delay}_codes{codes}_seed{seed}"


class LaggedNetwork(SeriesBuilder):
  """Sparse directed graph with delays: a node's future is its parents' past."""

  name = "lagged_network"
  DESCRIPTION = (
      "Synthetic series on a sparse directed graph: x_i(t) = sum_k w_ik x_{p_ik}(t - d_ik)"
      " + white noise, K random parents per node with delays 1..max_delay. Deterministic"
      " from the seed."
  )
  DEFAULT_SPLIT_RATIOS = (0.6, 0.2, 0.2)
  DEFAULT_SCALING = "global"
  DEFAULT_WINDOW = (12, 6)
  OPTIONS = (
      BuilderOption("nodes", int, 64, "number of nodes, > parents"),
      BuilderOption("days", int, 7, "number of days of 5-minute steps, >= 1"),
      BuilderOption("parents", int, 2, "parents per node, >= 1"),
      BuilderOption("max_delay", int, 6, "largest delay in steps, >= 1"),
      BuilderOption("codes", int, 0, "code channels per node (own + parents'), >= 0"),
      BuilderOption("seed", int, 0, "random seed, >= 0"),
  )
  BUILDER_CONFIGS = [LaggedNetworkConfig(name=config_name(64, 7, 2, 6, 0, 0))]

  @classmethod
  def make_config(cls, *, nodes: int = 64, days: int = 7, parents: int = 2,
                  max_delay: int = 6, codes: int = 0, seed: int = 0):
    context = "lagged_network: "
    parents = check_integer("parents", parents, 1, context)
    nodes = check_integer("nodes", nodes, parents + 1, context)
    days = check_integer("days", days, 1, context)
    max_delay = check_integer("max_delay", max_delay, 1, context)
    codes = check_integer("codes", codes, 0, context)
    seed = check_integer("seed", seed, 0, context)
    name = config_name(nodes, days, parents, max_delay, codes, seed)
    default = cls.BUILDER_CONFIGS[0]
    if name == default.name:  # TFDS wants the very object listed in BUILDER_CONFIGS.
      return default
    return LaggedNetworkConfig(
        name=name, nodes=nodes, days=days, parents=parents, max_delay=max_delay, codes=codes,
        seed=seed,
    )

  def _series_blocks(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to read.
    c = self.builder_config
    graph = lagged_graph(c.nodes, parents=c.parents, max_delay=c.max_delay, seed=c.seed)
    values = simulate_lagged(c.nodes, c.days * STEPS_PER_DAY, seed=c.seed, graph=graph)[..., None]
    channels = ("value",)
    if c.codes:
      own, upstream = node_codes(graph, c.codes, seed=c.seed)
      constant = np.broadcast_to(
          np.concatenate([own, upstream], axis=1)[None], (values.shape[0], c.nodes, 2 * c.codes)
      )
      values = np.concatenate([values, constant], axis=-1)
      channels += tuple(f"code{k}" for k in range(c.codes))
      channels += tuple(f"parent_code{k}" for k in range(c.codes))
    info = SeriesInfo(
        name=self.name,
        start=np.datetime64(START, "s"),
        step_seconds=STEP_SECONDS,
        num_steps=values.shape[0],
        channel_names=channels,
        node_ids=tuple(str(i) for i in range(c.nodes)),
        default_split_ratios=self.DEFAULT_SPLIT_RATIOS,
        description=self.DESCRIPTION,
        extra={
            "generator": {"nodes": c.nodes, "days": c.days, "parents": c.parents,
                          "max_delay": c.max_delay, "codes": c.codes, "seed": c.seed},
            "graph_note": "lagged_graph(nodes, parents=, max_delay=, seed=) in"
            " entropy_attention_jax.data.lagged_network rebuilds the graph.",
        },
    )
    return info, iter([np.ascontiguousarray(values, np.float32)])
