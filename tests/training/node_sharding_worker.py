"""Node-sharded forward, gradient and HLO on 4 forced CPU devices (run by test_node_sharding.py).

Run as ``XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m
tests.training.node_sharding_worker KIND...``; prints one JSON object per
kind: the largest differences between the sharded and unsharded forward pass
and gradient, and the collectives of the compiled spatial attention layer and
of the whole training step.
"""

from __future__ import annotations

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from entropy_attention_jax.data import StandardScaler
from entropy_attention_jax.models import ELinFormerConfig
from entropy_attention_jax.models.elinformer import NODE_PARAMETERS
from entropy_attention_jax.nn import EntropyLinearAttention
from entropy_attention_jax.training import hlo
from entropy_attention_jax.training.sharding import (
    NODES_AXIS,
    batch_sharded,
    make_mesh,
    place,
    replicate,
    state_sharding,
)
from entropy_attention_jax.training.state import init_train_state
from entropy_attention_jax.training.steps import jit_train_step, make_train_step

# 64 nodes: with only a few nodes per device XLA may find gathering the keys
# cheaper than reducing the d x d statistics, and rightly does.
NODES, STEPS, BATCH = int(os.environ.get("WORKER_NODES", 64)), 12, 2


def _inputs(seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  x = np.stack([
      rng.standard_normal((BATCH, STEPS, NODES)),
      rng.uniform(0, 1, (BATCH, STEPS, NODES)),
      rng.integers(0, 7, (BATCH, STEPS, NODES)).astype(float),
  ], axis=-1).astype(np.float32)
  y = (50 + 10 * rng.standard_normal((BATCH, STEPS, NODES, 1))).astype(np.float32)
  return {"x": x, "y": y, "valid": np.ones(BATCH, bool)}


def _place(batch, mesh):
  return {name: jax.device_put(value, batch_sharded(mesh, value.ndim))
          for name, value in batch.items()}


def _collectives(compiled) -> list[dict]:
  return [{"op": c.op, "bytes": c.bytes, "shapes": [list(s[1]) for s in c.shapes]}
          for c in hlo.collectives(compiled.as_text())]


def check(name: str) -> dict:
  """`name`: an attention kind, or ``kind:estimator`` (``eala:cumulant3``)."""
  kind, _, estimator = name.partition(":")
  options = {"estimator": estimator} if estimator else {}
  config = ELinFormerConfig(
      num_nodes=NODES, in_steps=STEPS, out_steps=STEPS, input_embedding_dim=8,
      tod_embedding_dim=4, dow_embedding_dim=4, adaptive_embedding_dim=8,
      feed_forward_dim=16, num_heads=2, num_temporal_layers=1, num_spatial_layers=1,
      spatial_attention=kind, temporal_attention="eala", dropout_rate=0.1,
      spatial_attention_options=options,
  )
  optimizer = optax.adam(1e-3)
  model_def, state = init_train_state(config, optimizer, seed=0)
  scaler = StandardScaler(np.array([50.0]), np.array([10.0]))
  batch = _inputs()
  one = make_mesh(devices=jax.devices()[:1])
  sharded = make_mesh(shard_nodes=True, num_nodes=NODES)
  assert dict(sharded.shape) == {"data": 1, "nodes": 4}, sharded.shape

  def loss(params, batch):
    model = model_def.merge(params, state.fixed)
    output = model(batch["x"], deterministic=True)
    return jnp.mean((output - scaler.transform(batch["y"])) ** 2), output

  results = {}
  for placement_name, mesh in (("one", one), ("sharded", sharded)):
    params = place(state.params, state_sharding(state.params, mesh, NODE_PARAMETERS))
    (value, output), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(
        params, _place(batch, mesh))
    results[placement_name] = (np.asarray(output), jax.tree.map(np.asarray, grads), float(value))
  out_one, grads_one, _ = results["one"]
  out_sharded, grads_sharded, _ = results["sharded"]
  forward_error = float(np.max(np.abs(out_sharded - out_one)))
  # Relative to the largest gradient entry (some, like the key bias's, are ~0).
  scale = max(float(np.max(np.abs(b))) for b in jax.tree.leaves(grads_one))
  gradient_error = max(
      float(np.max(np.abs(a - b))) / scale
      for a, b in zip(jax.tree.leaves(grads_sharded), jax.tree.leaves(grads_one))
  )

  # The spatial attention layer alone: [batch, steps, nodes, width], nodes split.
  layer = EntropyLinearAttention(2, 16, attention=kind, attention_options=options,
                                 rngs=nnx.Rngs(0))
  graph, layer_params = nnx.split(layer)

  def attend(params, h):
    return nnx.merge(graph, params)(h, deterministic=True)

  h_sharding = NamedSharding(sharded, PartitionSpec(None, None, NODES_AXIS))
  h = jax.ShapeDtypeStruct((BATCH, STEPS, NODES, 16), jnp.float32, sharding=h_sharding)
  layer_compiled = jax.jit(attend, out_shardings=h_sharding).lower(
      replicate(layer_params, sharded), h).compile()
  placement = state_sharding(state, sharded, NODE_PARAMETERS)
  step = jit_train_step(make_train_step(model_def, optimizer, scaler), sharded, placement)
  step_compiled = step.lower(place(state, placement), _place(batch, sharded)).compile()
  tables = {jax.tree_util.keystr(path): str(leaf.spec)
            for path, leaf in jax.tree_util.tree_flatten_with_path(placement)[0]
            if "adaptive_embedding" in jax.tree_util.keystr(path)}
  return {
      "node_tables": tables,
      "kind": name, "forward_error": forward_error, "gradient_error": gradient_error,
      "layer_collectives": _collectives(layer_compiled),
      "step_collectives": _collectives(step_compiled),
  }


if __name__ == "__main__":
  assert len(jax.devices()) == 4, "run with XLA_FLAGS=--xla_force_host_platform_device_count=4"
  for kind in sys.argv[1:]:
    print(json.dumps(check(kind)), flush=True)
