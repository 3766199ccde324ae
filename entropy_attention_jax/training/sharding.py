"""Data parallelism with `jax.sharding`: batch split over devices, state replicated.

One mesh axis, ``"data"``, spans every device (of every process in a
multi-host run). Parameters and optimiser state are replicated; a batch's
leading axis is split over the devices, and XLA all-reduces the gradients.
Nothing here is CPU-specific: on a GPU or TPU host the same code uses them.

A batch must split evenly, so batches are padded to a multiple of the device
count (:func:`pad_batch`): padding rows repeat the last sample with `valid`
False, and the loss and metrics ignore them. Training batches therefore train
on exactly the same samples on any device count; evaluation batches keep
every window. (With padding, the dropout masks of the real rows differ from a
run without padding, since the random bits are drawn for the padded shape.)

Multi-host: call :func:`initialize_distributed` first (the CLI's
``--distributed``); every process iterates the same global batches (data
order is a function of seed and epoch) and contributes its own rows
(:func:`shard_batch`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def initialize_distributed(**kwargs) -> None:
  """`jax.distributed.initialize(**kwargs)` for multi-host runs (before any JAX call).

  On managed clusters (Cloud TPU, SLURM, Open MPI) no argument is needed;
  elsewhere pass `coordinator_address`, `num_processes` and `process_id`.
  """
  jax.distributed.initialize(**kwargs)


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named ``"data"`` over `devices` (default: all devices)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Sharding that keeps a full copy on every device (parameters, optimiser state)."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """Sharding that splits the leading (batch) axis over the ``"data"`` axis."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def padded_batch_size(batch_size: int, mesh: Mesh) -> int:
  """`batch_size` rounded up to a multiple of the mesh's device count."""
  devices = mesh.devices.size
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


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Global NumPy batch -> arrays split over the mesh's ``"data"`` axis.

  Each process passes the same global batch and contributes its own
  contiguous block of rows (all of them in a single-process run).

  Raises:
    ValueError: the batch does not split evenly over the devices.
  """
  sharding = batch_sharded(mesh)
  processes, index = jax.process_count(), jax.process_index()
  arrays = {}
  for name, value in batch.items():
    rows = value.shape[0]
    if rows % mesh.devices.size:
      raise ValueError(
          f"shard_batch: {name} has {rows} rows, not a multiple of the {mesh.devices.size}"
          " devices; pad it first (pad_batch)."
      )
    per_process = rows // processes
    local = value[index * per_process : (index + 1) * per_process]
    arrays[name] = jax.make_array_from_process_local_data(sharding, local, value.shape)
  return arrays


def replicate(tree, mesh: Mesh):
  """`tree` placed on every device of `mesh` (e.g. a fresh `TrainState`)."""
  return jax.device_put(tree, replicated(mesh))
