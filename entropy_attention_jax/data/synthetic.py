"""Deterministic synthetic road traffic: flow counts on a road graph of N sensors.

The generator imitates what makes PeMS-style data hard to forecast, at any size
from 10 to 10,000 nodes:

- a road graph: sensors at random points of the unit square, each linked to
  its nearest neighbours, plus a few long "highway" shortcuts;
- demand with daily and weekly cycles: weekday morning and evening rush hours
  (each sensor leans to one of them, like the two directions of a commute, and
  peaks a little earlier or later), lower single-hump weekends, day-to-day
  "weather" factors and slow per-sensor fluctuations;
- congestion: incidents start at random (more often in busy hours), last a
  random time and spread to neighbouring sensors along the graph, decaying at
  each hop; heavy rush-hour load adds recurrent congestion; congestion cuts
  the flow a sensor measures;
- sensor noise (counting noise, roughly Poisson) and missing readings stored as
  zeros, as PeMS stores them: isolated drop-outs, sensor outages of hours, and
  rare network-wide gaps of a few steps.

Everything is vectorised over nodes; time advances one step at a time (the
congestion recurrence needs the previous step) with one sparse product per
step, and `simulate_traffic` yields one day at a time, so memory stays at a few
days' worth of `[steps_per_day, nodes]` arrays whatever the series length. The
output is a pure function of `(num_nodes, seed, steps_per_day, model)` and the
day index: the same seed always gives the same series.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.sparse
import scipy.spatial

from entropy_attention_jax.data.errors import DataError

# Independent random streams, combined with the user's seed.
_GRAPH_STREAM = 0
_NODE_STREAM = 1
_DAY_STREAM = 2


@dataclasses.dataclass(frozen=True)
class RoadGraph:
  """An undirected road graph; each edge is stored in both directions.

  Attributes:
    positions: `[nodes, 2]` sensor coordinates in the unit square.
    senders: `[2 * edges]` int32 source node of each directed edge.
    receivers: `[2 * edges]` int32 target node of each directed edge.
  """

  positions: np.ndarray
  senders: np.ndarray
  receivers: np.ndarray

  @property
  def num_nodes(self) -> int:
    return self.positions.shape[0]

  @property
  def num_edges(self) -> int:
    """Number of undirected edges."""
    return self.senders.shape[0] // 2

  def degrees(self) -> np.ndarray:
    """`[nodes]` int number of neighbours of each node."""
    return np.bincount(self.receivers, minlength=self.num_nodes)

  def neighbour_mean_matrix(self) -> scipy.sparse.csr_matrix:
    """`[nodes, nodes]` sparse `P` with `(P @ x)[i]` = mean of `x` over i's neighbours."""
    weights = (1.0 / np.maximum(self.degrees(), 1)[self.receivers]).astype(np.float32)
    return scipy.sparse.csr_matrix(
        (weights, (self.receivers, self.senders)), shape=(self.num_nodes,) * 2
    )


def road_graph(
    num_nodes: int,
    *,
    seed: int = 0,
    neighbours: int = 3,
    shortcuts_per_node: float = 0.01,
) -> RoadGraph:
  """A random geometric road graph: k nearest neighbours plus long shortcuts.

  Args:
    num_nodes: number of sensors, >= 2.
    seed: random seed; the graph is a pure function of the arguments.
    neighbours: each node links to this many nearest other nodes (links are
      then made mutual, so degrees are >= `neighbours`).
    shortcuts_per_node: long random links ("highways") per node; at least one.

  Returns:
    A `RoadGraph` without self-loops or duplicate edges.
  """
  if num_nodes < 2:
    raise DataError(f"road_graph needs num_nodes >= 2, got {num_nodes}.")
  rng = np.random.default_rng([seed, _GRAPH_STREAM])
  positions = rng.random((num_nodes, 2))
  k = min(neighbours, num_nodes - 1)
  _, nearest = scipy.spatial.cKDTree(positions).query(positions, k=k + 1)
  senders = np.repeat(np.arange(num_nodes), k)
  receivers = nearest[:, 1:].reshape(-1)  # Column 0 is the node itself.
  num_shortcuts = max(1, round(shortcuts_per_node * num_nodes))
  shortcut_ends = rng.integers(0, num_nodes, size=(2, num_shortcuts))
  senders = np.concatenate([senders, shortcut_ends[0]])
  receivers = np.concatenate([receivers, shortcut_ends[1]])
  pairs = np.stack([np.minimum(senders, receivers), np.maximum(senders, receivers)], 1)
  pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
  return RoadGraph(
      positions=positions,
      senders=np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int32),
      receivers=np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int32),
  )


@dataclasses.dataclass(frozen=True)
class TrafficModel:
  """Parameters of the synthetic traffic; the defaults give PeMS-like flow.

  Rates are per node per day unless stated; durations are in hours.

  Attributes:
    capacity_median: median flow (vehicles per step at 5-minute steps) at full
      demand; capacities are log-normal across sensors.
    capacity_spread: standard deviation of log-capacity.
    peak_jitter_hours: std of each sensor's rush-hour time shift.
    weather_std: std of the network-wide daily demand factor.
    incident_rate: incidents per node per weekday, on average (fewer on the
      lighter weekends: the rate follows the load).
    incident_hours: mean incident duration (geometric in steps).
    congestion_decay: fraction of congestion kept from one step to the next.
    congestion_spread: fraction of a node's congestion pulled from the mean of
      its neighbours at each step (how far incidents reach).
    congestion_flow_drop: measured flow is `demand * (1 - drop * congestion)`.
    recurrent_load: load (demand / capacity) above which rush hours congest.
    count_noise: scale of counting noise, `noise * sqrt(flow)` (1 = Poisson).
    dropout_probability: chance that any single reading is missing.
    outage_rate: sensor outages per node per day.
    outage_hours: (min, max) outage duration, uniform.
    network_gap_rate: network-wide gaps (all sensors missing) per day.
    network_gap_steps: (min, max) network gap length in steps, uniform.
  """

  capacity_median: float = 250.0
  capacity_spread: float = 0.4
  peak_jitter_hours: float = 0.3
  weather_std: float = 0.05
  incident_rate: float = 0.1
  incident_hours: float = 1.0
  congestion_decay: float = 0.85
  congestion_spread: float = 0.3
  congestion_flow_drop: float = 0.6
  recurrent_load: float = 0.9
  count_noise: float = 1.0
  dropout_probability: float = 0.001
  outage_rate: float = 0.02
  outage_hours: tuple[float, float] = (1.0, 12.0)
  network_gap_rate: float = 0.2
  network_gap_steps: tuple[int, int] = (1, 3)


class TrafficDay(NamedTuple):
  """One simulated day.

  Attributes:
    flow: `[steps_per_day, nodes]` float32 measured flow; 0 where missing.
    congestion: `[steps_per_day, nodes]` float32 congestion level in [0, 1].
    incident: `[steps_per_day, nodes]` bool, an incident is active at the node.
    missing: `[steps_per_day, nodes]` bool, the reading is missing (flow is 0).
  """

  flow: np.ndarray
  congestion: np.ndarray
  incident: np.ndarray
  missing: np.ndarray


class _NodeProfile(NamedTuple):
  capacity: np.ndarray  # [nodes]
  morning_weight: np.ndarray  # [nodes]
  evening_weight: np.ndarray  # [nodes]
  peak_shift: np.ndarray  # [nodes] hours


def _node_profile(graph: RoadGraph, seed: int, model: TrafficModel) -> _NodeProfile:
  rng = np.random.default_rng([seed, _NODE_STREAM])
  num_nodes = graph.num_nodes
  capacity = model.capacity_median * np.exp(model.capacity_spread * rng.standard_normal(num_nodes))
  capacity = capacity.astype(np.float32)
  # Commute direction: sensors on one side of town peak in the morning, on the
  # other in the evening, so neighbours share a profile (spatial correlation).
  angle = np.arctan2(*(graph.positions - 0.5).T[::-1])
  inbound = np.clip(0.5 + 0.35 * np.cos(angle) + 0.1 * rng.standard_normal(num_nodes), 0, 1)
  return _NodeProfile(
      capacity=capacity,
      morning_weight=0.3 + 0.5 * inbound,
      evening_weight=0.3 + 0.5 * (1 - inbound),
      peak_shift=(model.peak_jitter_hours * rng.standard_normal(num_nodes)).astype(np.float32),
  )


def _bump(hours: np.ndarray, centre: np.ndarray | float, width: float) -> np.ndarray:
  return np.exp(-0.5 * ((hours - centre) / width) ** 2)


def _scatter(where: np.ndarray, values: np.ndarray) -> np.ndarray:
  """An array shaped like `where` holding `values` at its True entries, else 0."""
  out = np.zeros(where.shape, values.dtype)
  out[where] = values
  return out


class _DayEvents(NamedTuple):
  """One day's random draws, each `[steps, nodes]` unless noted."""

  incident_start: np.ndarray  # bool
  severity: np.ndarray  # severity of the incident starting there, else 0
  incident_steps: np.ndarray  # its duration in steps, else 0
  outage_start: np.ndarray  # bool
  outage_steps: np.ndarray  # its duration in steps, else 0
  gap_start: np.ndarray  # [steps] bool, a network-wide gap starts
  gap_steps: np.ndarray  # [steps] its length in steps
  wiggle: np.ndarray  # innovations of the slow per-node fluctuation
  dropout: np.ndarray  # bool, an isolated missing reading
  count_noise: np.ndarray  # standard normal counting noise


def _draw_day_events(
    rng: np.random.Generator,
    load: np.ndarray,
    model: TrafficModel,
    incident_probability: float,
    incident_steps: float,
    outage_steps: tuple[int, int],
) -> _DayEvents:
  """Draws a day's incidents, outages, gaps and noise (fixed draw order)."""
  shape = load.shape
  steps_per_day = shape[0]
  incident_start = rng.random(shape, np.float32) < np.float32(incident_probability) * load
  num_incidents = int(incident_start.sum())
  severity = _scatter(incident_start, rng.uniform(0.3, 0.9, num_incidents).astype(np.float32))
  durations = _scatter(incident_start, rng.geometric(1.0 / incident_steps, num_incidents))
  outage_start = rng.random(shape, np.float32) < model.outage_rate / steps_per_day
  outages = _scatter(
      outage_start, rng.integers(outage_steps[0], outage_steps[1] + 1, int(outage_start.sum()))
  )
  low, high = model.network_gap_steps
  return _DayEvents(
      incident_start=incident_start,
      severity=severity,
      incident_steps=durations,
      outage_start=outage_start,
      outage_steps=outages,
      gap_start=rng.random(steps_per_day) < model.network_gap_rate / steps_per_day,
      gap_steps=rng.integers(low, high + 1, steps_per_day),
      wiggle=rng.standard_normal(shape, np.float32),
      dropout=rng.random(shape, np.float32) < model.dropout_probability,
      count_noise=rng.standard_normal(shape, np.float32),
  )


def _demand_profile(hours: np.ndarray, weekday: int, profile: _NodeProfile) -> np.ndarray:
  """Expected load (demand / capacity) `[steps, nodes]` over one day.

  Args:
    hours: `[steps]` clock time of each step in hours, in [0, 24).
    weekday: 0 = Monday ... 6 = Sunday.
    profile: per-node rush-hour weights and shifts.
  """
  h = hours[:, None] - profile.peak_shift[None, :]
  night = 0.06
  if weekday >= 5:
    sunday = 0.85 if weekday == 6 else 1.0
    return sunday * (night + 0.55 * _bump(h, 14.0, 3.5))
  friday = 1.1 if weekday == 4 else 1.0
  return (
      night
      + 0.4 * _bump(h, 13.0, 4.0)
      + profile.morning_weight * _bump(h, 8.0, 1.1)
      + friday * profile.evening_weight * _bump(h, 17.5, 1.4)
  )


def simulate_traffic(
    num_nodes: int,
    num_days: int,
    *,
    seed: int = 0,
    steps_per_day: int = 288,
    first_weekday: int = 0,
    model: TrafficModel = TrafficModel(),
    graph: RoadGraph | None = None,
) -> Iterator[TrafficDay]:
  """Simulates traffic day by day (see the module docstring for the model).

  Args:
    num_nodes: number of sensors (10 ... 10,000 and beyond).
    num_days: number of days to simulate.
    seed: random seed; equal arguments give equal days.
    steps_per_day: steps per day (288 = 5-minute steps).
    first_weekday: weekday of day 0 (0 = Monday).
    model: traffic parameters.
    graph: the road graph; defaults to `road_graph(num_nodes, seed=seed)`.

  Yields:
    `num_days` `TrafficDay`s in order, each `[steps_per_day, nodes]`.
  """
  if num_nodes < 2 or num_days < 1 or steps_per_day < 1:
    raise DataError(
        "simulate_traffic needs num_nodes >= 2, num_days >= 1 and"
        f" steps_per_day >= 1; got {num_nodes}, {num_days}, {steps_per_day}."
    )
  graph = road_graph(num_nodes, seed=seed) if graph is None else graph
  if graph.num_nodes != num_nodes:
    raise DataError(f"graph has {graph.num_nodes} nodes but num_nodes={num_nodes}.")
  neighbour_mean = graph.neighbour_mean_matrix()
  profile = _node_profile(graph, seed, model)
  hours = (np.arange(steps_per_day) * (24.0 / steps_per_day)).astype(np.float32)
  loads: dict[int, np.ndarray] = {}

  def weekday_load(weekday: int) -> np.ndarray:
    # Monday-Thursday share one profile: at most four distinct days to compute.
    kind = 0 if weekday < 4 else weekday
    if kind not in loads:
      loads[kind] = _demand_profile(hours, kind, profile).astype(np.float32)
    return loads[kind].copy()

  # Incidents are likelier when roads are busy: proportional to the load, and
  # `incident_rate` per node on an average weekday.
  incident_probability = model.incident_rate / steps_per_day / float(weekday_load(0).mean())
  steps_per_hour = steps_per_day / 24.0
  incident_steps = max(model.incident_hours * steps_per_hour, 1.0)
  outage_steps = tuple(max(round(h * steps_per_hour), 1) for h in model.outage_hours)

  # State carried from step to step (and across days).
  congestion = np.zeros(num_nodes, np.float32)
  incident_left = np.zeros(num_nodes, np.int64)
  severity = np.zeros(num_nodes, np.float32)
  outage_left = np.zeros(num_nodes, np.int64)
  network_gap_left = 0
  fluctuation = np.zeros(num_nodes, np.float32)

  for day in range(num_days):
    rng = np.random.default_rng([seed, _DAY_STREAM, day])
    weekday = (first_weekday + day) % 7
    weather = 1.0 + model.weather_std * rng.standard_normal()
    load = weekday_load(weekday) * np.float32(weather)  # [steps, nodes]
    events = _draw_day_events(rng, load, model, incident_probability, incident_steps, outage_steps)
    missing = events.dropout

    congestion_day = np.empty(load.shape, np.float32)
    incident_day = np.empty(load.shape, bool)
    for t in range(steps_per_day):
      incident_left = np.where(
          events.incident_start[t], events.incident_steps[t], np.maximum(incident_left - 1, 0)
      )
      severity = np.where(events.incident_start[t], events.severity[t], severity)
      incident_day[t] = incident_left > 0
      fluctuation = 0.97 * fluctuation + 0.01 * events.wiggle[t]
      load[t] *= 1.0 + fluctuation
      recurrent = np.clip((load[t] - model.recurrent_load) / 0.3, 0.0, 0.6)
      congestion = model.congestion_decay * (
          (1 - model.congestion_spread) * congestion
          + model.congestion_spread * (neighbour_mean @ congestion)
      )
      congestion = np.maximum(congestion, np.maximum(severity * incident_day[t], recurrent))
      congestion_day[t] = congestion
      outage_left = np.where(
          events.outage_start[t], events.outage_steps[t], np.maximum(outage_left - 1, 0)
      )
      network_gap_left = (
          events.gap_steps[t] if events.gap_start[t] else max(network_gap_left - 1, 0)
      )
      missing[t] |= (outage_left > 0) | (network_gap_left > 0)

    flow = load * profile.capacity * (1.0 - model.congestion_flow_drop * congestion_day)
    flow = np.maximum(flow, 0.0)
    flow = np.maximum(np.round(flow + model.count_noise * np.sqrt(flow) * events.count_noise), 0.0)
    flow[missing] = 0.0
    yield TrafficDay(
        flow=flow.astype(np.float32, copy=False),
        congestion=congestion_day,
        incident=incident_day,
        missing=missing,
    )


def synthetic_traffic(
    num_nodes: int,
    num_days: int,
    *,
    seed: int = 0,
    steps_per_day: int = 288,
    first_weekday: int = 0,
    model: TrafficModel = TrafficModel(),
) -> np.ndarray:
  """The whole measured-flow series `[num_days * steps_per_day, nodes, 1]` float32.

  A convenience for small sizes; builders stream `simulate_traffic` instead.
  """
  days = simulate_traffic(
      num_nodes, num_days, seed=seed, steps_per_day=steps_per_day,
      first_weekday=first_weekday, model=model,
  )
  return np.concatenate([day.flow for day in days])[..., None]
