r"""Synthetic series whose future at a node is a few other nodes' delayed past.

A benchmark on which attention has to *pick*: every node `i` has `K` parents
`p_{i1..iK}` (distinct, random, never itself) with delays `δ_ik ∈ [1, D]` and
signed weights, and

.. math:: x_i(t) = \sum_k w_{ik}\, x_{p_{ik}}(t - δ_{ik}) + σ\, ε_i(t),
   \qquad ε_i(t) \sim N(0, 1) \text{ i.i.d.}

The weights are scaled so that `Σ_k |w_ik| = coupling < 1` (stationary). A
node's own past says almost nothing about its future (its innovations are
white), its parents' past says most of it for horizons up to the delays, and
the average over all nodes (uniform attention weights) says nothing: a model
must find each node's `K` parents among `N` nodes. Deterministic from the
seed; vectorised over nodes, one step at a time (the recurrence).

Optionally (`codes > 0`) each node also shows, as constant input channels, a
random code of its own and the sum of its parents' codes — node metadata that
says which nodes feed it, as a road graph would. Attention can then find the
parents by content (query from the parents' code, key from the own code) in a
few epochs instead of learning the graph into node embeddings.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from entropy_attention_jax.data.errors import DataError

_GRAPH_STREAM = 0
_NOISE_STREAM = 1
_CODE_STREAM = 2
# Steps simulated and dropped before the series starts (forgets the zero start).
_BURN_IN = 256


@dataclasses.dataclass(frozen=True)
class LaggedGraph:
  """Each node's parents, delays and weights.

  Attributes:
    parents: `[nodes, K]` int parent node indices (distinct, never the node).
    delays: `[nodes, K]` int delays in steps, in `[1, max_delay]`.
    weights: `[nodes, K]` float weights, `Σ_k |w| = coupling` per node.
  """

  parents: np.ndarray
  delays: np.ndarray
  weights: np.ndarray


def lagged_graph(
    num_nodes: int, *, parents: int = 2, max_delay: int = 6, coupling: float = 0.9,
    seed: int = 0,
) -> LaggedGraph:
  """A random sparse directed graph with delays (see the module docstring).

  Raises:
    DataError: fewer nodes than `parents + 1`, `max_delay < 1`, or `coupling`
      outside `(0, 1)`.
  """
  if parents < 1 or num_nodes < parents + 1:
    raise DataError(
        f"lagged_network: need parents >= 1 and nodes >= parents + 1, got nodes={num_nodes},"
        f" parents={parents}."
    )
  if max_delay < 1:
    raise DataError(f"lagged_network: max_delay must be >= 1, got {max_delay}.")
  if not 0.0 < coupling < 1.0:
    raise DataError(f"lagged_network: coupling must be in (0, 1), got {coupling}.")
  rng = np.random.default_rng([seed, _GRAPH_STREAM])
  # Distinct parents other than the node itself: a random draw from the others.
  others = np.argsort(rng.random((num_nodes, num_nodes - 1)), axis=1)[:, :parents]
  own = np.arange(num_nodes)[:, None]
  chosen = others + (others >= own)  # skip the node's own index
  delays = rng.integers(1, max_delay + 1, size=(num_nodes, parents))
  magnitude = rng.uniform(0.5, 1.0, size=(num_nodes, parents))
  sign = rng.choice([-1.0, 1.0], size=(num_nodes, parents))
  weights = sign * magnitude * (coupling / magnitude.sum(axis=1, keepdims=True))
  return LaggedGraph(chosen.astype(np.int64), delays.astype(np.int64), weights)


def simulate_lagged(
    num_nodes: int, num_steps: int, *, parents: int = 2, max_delay: int = 6,
    coupling: float = 0.9, noise: float = 1.0, seed: int = 0,
    graph: LaggedGraph | None = None,
) -> np.ndarray:
  """The series `[num_steps, num_nodes]` float32 (zero-mean, unit-ish scale).

  Args:
    num_nodes, parents, max_delay, coupling, seed: as :func:`lagged_graph`.
    num_steps: length of the series (>= 1).
    noise: σ of the innovations.
    graph: a graph to use instead of drawing one from the seed.
  """
  if num_steps < 1:
    raise DataError(f"lagged_network: num_steps must be >= 1, got {num_steps}.")
  graph = graph or lagged_graph(
      num_nodes, parents=parents, max_delay=max_delay, coupling=coupling, seed=seed
  )
  max_delay = int(graph.delays.max())
  rng = np.random.default_rng([seed, _NOISE_STREAM])
  total = _BURN_IN + num_steps
  x = np.zeros((total + max_delay, num_nodes))
  innovations = noise * rng.standard_normal((total, num_nodes))
  for t in range(total):
    now = t + max_delay
    x[now] = np.sum(graph.weights * x[now - graph.delays, graph.parents], axis=1) + innovations[t]
  return x[max_delay + _BURN_IN:].astype(np.float32)


def node_codes(graph: LaggedGraph, codes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """`(own, parents)` `[nodes, codes]` float32: random unit-variance codes, and
  each node's sum of its parents' codes."""
  rng = np.random.default_rng([seed, _CODE_STREAM])
  own = rng.standard_normal((graph.parents.shape[0], codes))
  return own.astype(np.float32), own[graph.parents].sum(axis=1).astype(np.float32)
