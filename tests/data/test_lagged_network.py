"""lagged_network: the graph, the recurrence it defines, and the dataset round trip."""

from __future__ import annotations

import numpy as np
import pytest

from entropy_attention_jax.data import DataError, build_dataset, load_series
from entropy_attention_jax.data.lagged_network import lagged_graph, node_codes, simulate_lagged


def test_graph_parents_are_distinct_other_nodes_with_bounded_delays():
  graph = lagged_graph(30, parents=3, max_delay=5, coupling=0.8, seed=1)
  assert graph.parents.shape == graph.delays.shape == graph.weights.shape == (30, 3)
  assert np.all(graph.parents != np.arange(30)[:, None])
  assert all(len(set(row)) == 3 for row in graph.parents)
  assert graph.delays.min() >= 1 and graph.delays.max() <= 5
  np.testing.assert_allclose(np.abs(graph.weights).sum(1), 0.8)


def test_series_follows_the_recurrence_and_is_deterministic():
  graph = lagged_graph(12, parents=2, max_delay=4, seed=3)
  x = simulate_lagged(12, 500, seed=3, graph=graph).astype(np.float64)
  np.testing.assert_array_equal(x, simulate_lagged(12, 500, parents=2, max_delay=4, seed=3))
  t = np.arange(4, 500)
  predicted = np.sum(graph.weights * x[t[:, None, None] - graph.delays, graph.parents], axis=-1)
  innovation = x[4:] - predicted
  # What is left is the unit-variance white noise, uncorrelated with the parents' past.
  assert 0.9 < innovation.std() < 1.1
  assert abs(np.corrcoef(innovation[1:].ravel(), innovation[:-1].ravel())[0, 1]) < 0.1
  # The parents explain most of the variance (the point of the benchmark).
  assert predicted.var() / x[4:].var() > 0.3


def test_bad_options_are_one_clear_error():
  with pytest.raises(DataError, match="nodes >= parents"):
    lagged_graph(2, parents=2)
  with pytest.raises(DataError, match="coupling"):
    lagged_graph(5, coupling=1.2)
  with pytest.raises(DataError, match="max_delay"):
    lagged_graph(5, max_delay=0)


def test_round_trip_with_code_channels(tmp_path):
  options = dict(nodes=6, days=1, parents=1, max_delay=2, codes=2, seed=4)
  info = build_dataset("lagged_network", tmp_path, **options)
  assert info.data_path.endswith("nodes6_days1_parents1_delay2_codes2_seed4/1.1.0")
  series = load_series("lagged_network", tmp_path, **options)
  assert series.values.shape == (288, 6, 5)
  assert series.info.channel_names == ("value", "code0", "code1", "parent_code0", "parent_code1")
  graph = lagged_graph(6, parents=1, max_delay=2, seed=4)
  np.testing.assert_array_equal(
      series.values[:, :, 0], simulate_lagged(6, 288, seed=4, graph=graph))
  own, upstream = node_codes(graph, 2, seed=4)
  np.testing.assert_array_equal(series.values[:, :, 1:3], np.broadcast_to(own, (288, 6, 2)))
  # The parents' code is the code of the node each node reads from.
  np.testing.assert_array_equal(series.values[0, :, 3:], own[graph.parents[:, 0]])
  with pytest.raises(DataError, match="codes must be an integer"):
    build_dataset("lagged_network", tmp_path, nodes=6, codes=-1)
