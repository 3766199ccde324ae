"""The synthetic traffic generator: determinism, graph, cycles, incidents, gaps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from entropy_attention_jax.data import (
    DataError, TrafficModel, road_graph, simulate_traffic, synthetic_traffic,
)

NODES, DAYS = 30, 14


@pytest.fixture(scope="module")
def days():
  return list(simulate_traffic(NODES, DAYS, seed=3))


@pytest.mark.parametrize("num_nodes", [2, 10, 500])
def test_road_graph_is_simple_symmetric_and_connected_enough(num_nodes):
  graph = road_graph(num_nodes, seed=1)
  pairs = set(zip(graph.senders.tolist(), graph.receivers.tolist()))
  assert all((r, s) in pairs for s, r in pairs)  # Undirected.
  assert len(pairs) == 2 * graph.num_edges  # No duplicates.
  assert all(s != r for s, r in pairs)  # No self-loops.
  assert graph.degrees().min() >= min(3, num_nodes - 1)
  np.testing.assert_array_equal(road_graph(num_nodes, seed=1).senders, graph.senders)


def test_neighbour_mean_matrix_averages_neighbours():
  graph = road_graph(50, seed=0)
  x = np.arange(50, dtype=np.float32)
  mean = graph.neighbour_mean_matrix() @ x
  for node in (0, 17, 49):
    neighbours = graph.senders[graph.receivers == node]
    np.testing.assert_allclose(mean[node], x[neighbours].mean(), rtol=1e-6)


def test_deterministic_from_the_seed(days):
  again = list(simulate_traffic(NODES, DAYS, seed=3))
  for a, b in zip(days, again):
    np.testing.assert_array_equal(a.flow, b.flow)
  other = synthetic_traffic(NODES, 2, seed=4)
  assert not np.array_equal(other[: 288, :, 0], days[0].flow)
  # The prefix of a longer run equals a shorter run: days do not depend on the length.
  first_two = np.concatenate([d.flow for d in days[:2]])
  np.testing.assert_array_equal(synthetic_traffic(NODES, 2, seed=3)[:, :, 0], first_two)


def test_shapes_and_values(days):
  for day in days:
    assert day.flow.shape == (288, NODES) and day.flow.dtype == np.float32
    assert np.all(np.isfinite(day.flow)) and np.all(day.flow >= 0)
    np.testing.assert_array_equal(day.flow, np.round(day.flow))  # Vehicle counts.
    assert np.all((day.congestion >= 0) & (day.congestion <= 1))


def test_daily_and_weekly_cycles(days):
  flow = np.stack([d.flow for d in days])  # [days, steps, nodes]; 2024-01-01 is a Monday.
  hourly = flow.reshape(DAYS, 24, 12, NODES).mean(axis=(2, 3))
  weekdays, weekends = hourly[[0, 1, 2, 3, 4, 7, 8, 9, 10, 11]], hourly[[5, 6, 12, 13]]
  night, morning, evening = weekdays[:, 3], weekdays[:, 8], weekdays[:, 17]
  assert np.all(morning > 3 * night) and np.all(evening > 3 * night)
  assert weekdays[:, 8].min() > 2 * weekends[:, 8].max()  # No weekend morning rush.
  assert weekends.sum(1).max() < weekdays.sum(1).min()  # Weekends are lighter.
  # Commute direction: some sensors peak in the morning, others in the evening.
  by_node = flow.reshape(DAYS, 24, 12, NODES)[[0, 1, 2, 3, 7, 8, 9, 10]].mean(axis=(0, 2))
  morning_heavy = by_node[8] > by_node[17]
  assert 0 < morning_heavy.sum() < NODES


def test_incidents_congest_their_neighbours():
  model = dataclasses.replace(TrafficModel(), incident_rate=0.5, recurrent_load=10.0)
  graph = road_graph(200, seed=0)
  days = list(simulate_traffic(200, 3, seed=0, model=model, graph=graph))
  incident = np.concatenate([d.incident for d in days])
  congestion = np.concatenate([d.congestion for d in days])
  assert incident.any()
  # Nodes next to an incident (but without one) are more congested than the rest.
  near = np.zeros_like(incident)
  for t in np.flatnonzero(incident.any(1)):
    near[t, graph.receivers[np.isin(graph.senders, np.flatnonzero(incident[t]))]] = True
  near &= ~incident
  far = ~near & ~incident
  assert congestion[near].mean() > 5 * congestion[far].mean()
  assert congestion[incident].min() >= 0.3  # Incident severity.


def test_missing_readings_are_zeros(days):
  missing = np.concatenate([d.missing for d in days])
  flow = np.concatenate([d.flow for d in days])
  assert np.all(flow[missing] == 0)
  assert 0.001 < missing.mean() < 0.05
  whole_steps = missing.all(axis=1)  # Network-wide gaps exist but are rare.
  assert whole_steps.sum() < 0.01 * len(whole_steps)


def test_bad_sizes():
  with pytest.raises(DataError, match="num_nodes >= 2"):
    next(simulate_traffic(1, 1))
  with pytest.raises(DataError, match="graph has 10 nodes"):
    next(simulate_traffic(12, 1, graph=road_graph(10)))
