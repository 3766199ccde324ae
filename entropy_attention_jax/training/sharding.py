"""Data and node parallelism with `jax.sharding`: batch and nodes split, state replicated.

The mesh has two axes: ``"data"`` splits a batch's samples, ``"nodes"`` the
node (sensor) axis of the activations (:func:`make_mesh`). Without node
sharding the ``"nodes"`` axis has size 1 and every device of every process is
on ``"data"``. Parameters and optimiser state are replicated; XLA all-reduces
the gradients. Nothing here is CPU-specific: on a GPU or TPU host the same
code uses them.

Node sharding (``model.shard_nodes``): the inputs `[batch, steps, nodes, ...]`
are split along their node axis, and XLA's sharding propagation keeps every
activation of the model split the same way. The temporal blocks, embeddings
and output projections act per node, so they stay local; the spatial blocks'
linear attention (``eala``, ``linear``, ``taylor``) reduces over the keys
(count, Σk, Σkkᵀ, Σkvᵀ, ...), which XLA computes per shard and all-reduces:
`O(heads · d²)` numbers per layer, whatever the node count. Softmax needs
every key for every query, so XLA all-gathers K and V over ``"nodes"``
(`O(nodes · heads · d)`): it runs, but saves little memory
(experiments/bench_scale.py measures both).

A batch must split evenly, so batches are padded to a multiple of the
``"data"`` axis (:func:`pad_batch`): padding rows repeat the last sample with
`valid` False, and the loss and metrics ignore them. Training batches
therefore train on exactly the same samples on any device count; evaluation
batches keep every window. (With padding, the dropout masks of the real rows
differ from a run without padding, since the random bits are drawn for the
padded shape.)

Multi-process: call :func:`initialize_distributed` first (the CLI's
``--coordinator-address/--num-processes/--process-id`` or ``--distributed``).
Every process computes the same global batch order (a function of seed and
epoch) and reads only the rows, and node columns, its own devices hold
(:func:`global_batch`, :func:`shard_batch` with `jax.make_array_from_callback`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"
NODES_AXIS = "nodes"
# Axis of the nodes in the batch entries of rank >= 3 (`x`, `y`, `future`).
NODE_DIM = 2


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
  """`jax.distributed.initialize` for multi-process runs (before any other JAX call).

  On managed clusters (Cloud TPU, SLURM, Open MPI) no argument is needed;
  elsewhere pass `coordinator_address` (``host:port`` of process 0),
  `num_processes` and `process_id`, or set ``JAX_COORDINATOR_ADDRESS``,
  ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``. On CPU the processes
  exchange data with JAX's gloo collectives.
  """
  env = os.environ
  if num_processes is None and env.get("JAX_NUM_PROCESSES"):
    num_processes = int(env["JAX_NUM_PROCESSES"])
  if process_id is None and env.get("JAX_PROCESS_ID"):
    process_id = int(env["JAX_PROCESS_ID"])
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
      coordinator_address=coordinator_address, num_processes=num_processes,
      process_id=process_id,
  )


def node_shards(num_nodes: int, devices: int) -> int:
  """Size of the ``"nodes"`` axis: the largest divisor of `devices` that divides `num_nodes`."""
  return max(d for d in range(1, devices + 1) if devices % d == 0 and num_nodes % d == 0)


def make_mesh(
    *, shard_nodes: bool = False, num_nodes: int | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> Mesh:
  """The ``("data", "nodes")`` mesh of a run.

  Without `shard_nodes` every device is on ``"data"``. With it, each
  process's devices split the nodes (the all-reduce of the attention
  statistics stays within a host) and the processes split the batch; when
  `num_nodes` does not divide over a process's devices, the ``"nodes"``
  axis takes the largest divisor of their count that divides it and the
  rest go to ``"data"`` (6 nodes on 4 devices: 2 × 2).
  """
  devices = jax.devices() if devices is None else list(devices)
  nodes = 1
  if shard_nodes:
    local = max(1, len(devices) // jax.process_count())
    nodes = local if num_nodes is None else node_shards(num_nodes, local)
  # Devices of one process are adjacent in jax.devices(): "nodes" varies fastest.
  return Mesh(np.asarray(devices).reshape(len(devices) // nodes, nodes), (DATA_AXIS, NODES_AXIS))


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """The mesh without node sharding: every device on ``"data"``."""
  return make_mesh(devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding that keeps a full copy on every device (parameters, optimiser state)."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh, rank: int = 1) -> NamedSharding:
  """Sharding of a batch entry of `rank` dimensions.

  The leading (batch) axis goes over ``"data"``; entries of rank >= 3
  (`x`, `y`, `future`: `[batch, steps, nodes, ...]`) also split their node
  axis over ``"nodes"``.
  """
  if rank > NODE_DIM:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS, None, NODES_AXIS))
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def data_size(mesh: Mesh) -> int:
  """Devices along ``"data"`` (what a batch's rows must divide by)."""
  return mesh.shape[DATA_AXIS]


def padded_batch_size(batch_size: int, mesh: Mesh) -> int:
  """`batch_size` rounded up to a multiple of the mesh's ``"data"`` axis."""
  devices = data_size(mesh)
  return math.ceil(batch_size / devices) * devices


def pad_batch(batch: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
  """`batch` padded to `size` rows, with a `valid` `[size]` bool entry.

  Padding rows copy the last sample (finite inputs, so no NaN reaches a
  gradient) and are marked invalid; an existing `valid` entry is kept.

  Raises:
    ValueError: the batch is empty or larger than `size`.
  """
  rows = len(next(iter(batch.values())))
  if not 0 < rows <= size:
    raise ValueError(f"pad_batch: a batch of {rows} rows cannot be padded to {size}.")
  valid = np.asarray(batch.get("valid", np.ones(rows, bool)), bool)
  padded = {"valid": np.concatenate([valid, np.zeros(size - rows, bool)])}
  for name, value in batch.items():
    if name != "valid":
      filler = np.repeat(value[-1:], size - rows, axis=0)
      padded[name] = np.concatenate([value, filler]) if size > rows else value
  return padded


def _check_splits(name: str, shape: tuple[int, ...], mesh: Mesh) -> None:
  if shape[0] % data_size(mesh):
    raise ValueError(
        f"shard_batch: {name} has {shape[0]} rows, not a multiple of the {data_size(mesh)}"
        " devices of the data axis; pad it first (pad_batch)."
    )
  nodes = mesh.shape[NODES_AXIS]
  if len(shape) > NODE_DIM and shape[NODE_DIM] % nodes:
    raise ValueError(
        f"shard_batch: {name} has {shape[NODE_DIM]} nodes, not a multiple of the {nodes}"
        " devices of the nodes axis."
    )


def _assemble(
    shapes: Mapping[str, tuple[int, ...]], mesh: Mesh,
    rows: Callable[[slice], Mapping[str, np.ndarray]],
) -> dict[str, jax.Array]:
  """Global arrays whose local shards come from `rows(row_slice)[name]`.

  `jax.make_array_from_callback` asks only for the blocks this process's
  devices hold, so a process reads only its rows (and node columns).
  """
  arrays = {}
  for name, shape in shapes.items():
    _check_splits(name, shape, mesh)

    def block(index: tuple[slice, ...], name=name) -> np.ndarray:
      return rows(index[0])[name][(slice(None), *index[1:])]

    arrays[name] = jax.make_array_from_callback(shape, batch_sharded(mesh, len(shape)), block)
  return arrays


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Global NumPy batch -> arrays split over the mesh (:func:`batch_sharded`).

  Each process passes the same global batch; its devices take their own
  blocks of rows and nodes (all of them in a single-process run).

  Raises:
    ValueError: the batch does not split evenly over the devices.
  """
  shapes = {name: np.shape(value) for name, value in batch.items()}
  return _assemble(shapes, mesh, lambda rows: {n: v[rows] for n, v in batch.items()})


def global_batch(split: Any, positions: np.ndarray, rows: int, mesh: Mesh) -> dict[str, jax.Array]:
  """The batch of `split`'s samples at `positions`, padded to `rows` and sharded.

  The same as ``shard_batch(pad_batch(split.get_batch(positions), rows), mesh)``,
  but each process gathers only the samples its devices hold: every process
  passes the same global `positions` and reads its share of them.

  Args:
    split: a `data.WindowSplit` (anything with `get_batch(positions)`).
    positions: `[count]` sample positions of the global batch, `count <= rows`.
    rows: rows after padding (a multiple of the ``"data"`` axis).
    mesh: the device mesh.
  """
  positions = np.asarray(positions, np.int64)
  count = len(positions)
  if not 0 < count <= rows:
    raise ValueError(f"global_batch: a batch of {count} rows cannot be padded to {rows}.")
  padded = np.concatenate([positions, np.repeat(positions[-1:], rows - count)])
  valid = np.arange(rows) < count
  cache: dict[tuple[int, int], dict[str, np.ndarray]] = {}

  def read(row_slice: slice) -> dict[str, np.ndarray]:
    start, stop, _ = row_slice.indices(rows)
    if (start, stop) not in cache:
      block = dict(split.get_batch(padded[start:stop]))
      block["valid"] = valid[start:stop] & np.asarray(block.get("valid", True), bool)
      cache[start, stop] = block
    return cache[start, stop]

  # One of this process's own blocks gives the per-sample shapes.
  local = batch_sharded(mesh).addressable_devices_indices_map((rows,))
  first = read(next(iter(local.values()))[0])
  shapes = {name: (rows, *np.shape(value)[1:]) for name, value in first.items()}
  return _assemble(shapes, mesh, read)


def state_sharding(tree, mesh: Mesh, node_tables: Mapping[str, int] | None = None):
  """Shardings of a state pytree: per-node tables split over ``"nodes"``, the rest replicated.

  Args:
    tree: parameters, a `TrainState`, ... (optimiser moments included: they
      sit under the same module names).
    mesh: the device mesh.
    node_tables: module name -> node axis of its parameter table
      (`models.elinformer.NODE_PARAMETERS`); such leaves are split along that
      axis, so their gradients and Adam moments never leave their shard.
      None: everything replicated.
  """
  if not node_tables or mesh.shape[NODES_AXIS] == 1:
    return jax.tree.map(lambda _: replicated(mesh), tree)

  def leaf_sharding(path, leaf):
    where = jax.tree_util.keystr(path)
    for module, axis in node_tables.items():
      if f"'{module}'" in where and np.ndim(leaf) > axis:
        spec = [None] * np.ndim(leaf)
        spec[axis] = NODES_AXIS
        return NamedSharding(mesh, PartitionSpec(*spec))
    return replicated(mesh)

  return jax.tree_util.tree_map_with_path(leaf_sharding, tree)


def place(tree, shardings):
  """`tree` placed with `shardings` (a matching pytree, e.g. :func:`state_sharding`).

  Every process passes the same values. Across processes each one copies
  its host value to its own devices (`jax.make_array_from_callback`):
  `jax.device_put` of a local array onto a multi-process sharding gives
  arrays whose shards Orbax cannot read.
  """
  if jax.process_count() == 1:
    return jax.device_put(tree, shardings)

  def put(leaf, sharding):
    value = np.asarray(leaf)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])

  return jax.tree.map(put, tree, shardings)


def replicate(tree, mesh: Mesh):
  """`tree` placed on every device of `mesh` (see :func:`place`)."""
  return place(tree, state_sharding(tree, mesh))
