"""Node sharding: per-device memory, step time and communication versus nodes and devices.

For each device count (1, 2, 4 forced CPU devices, one subprocess each, since
JAX fixes its devices at start-up) and node count (2,000, 8,600, 20,000,
50,000), the ELinFormer training step (the "small" preset: 2 temporal + 2
spatial EALA layers, width 64; batch 1, 12 -> 12 steps; Adam; dropout on) is
compiled with ``model.shard_nodes`` on a mesh whose ``"nodes"`` axis spans
the devices. Reported:

- per-device peak memory: XLA's buffer assignment of the compiled step
  (`compiled.memory_analysis()`: arguments + outputs + temporaries - donated
  aliases), known before running;
- step time: median wall and process CPU time of the steps after a warm-up,
  when the step fits the machine's free memory (forced CPU devices share the
  host's cores, so the time shows overhead, not speed-up);
- communication: the bytes of the collectives in the compiled HLO
  (`training/hlo.py`) of one spatial attention layer (forward) for EALA and
  for softmax, whose node-sharded form all-gathers K and V, and of the whole
  EALA step (which also all-reduces the gradients of the replicated weights);
- the largest graph whose step fits a per-device budget (`--budget-gib`):
  a straight-line fit of per-device memory against nodes, checked by
  compiling the step at that size.

  python experiments/bench_scale.py --quick          # seconds: 256 nodes, 1 and 4 devices, tiny preset
  python experiments/bench_scale.py --out results/bench_scale   # the full table (~10 min)

Run it as ``PYTHONPATH=$PWD python experiments/bench_scale.py`` from a checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

GIB = 1024**3
FULL_NODES = (2000, 8600, 20000, 50000)
QUICK_NODES = (256,)
DEVICES = (1, 2, 4)
QUICK_DEVICES = (1, 4)


def _model_config(nodes: int, preset: str, kind: str = "eala"):
  from entropy_attention_jax import training  # pylint: disable=g-import-not-at-top
  from entropy_attention_jax.models import ELinFormerConfig  # pylint: disable=g-import-not-at-top

  model = training.get_config("synthetic_traffic", overlays=[preset]).model
  return ELinFormerConfig(
      num_nodes=nodes, in_steps=12, out_steps=12, **model, spatial_attention=kind,
      temporal_attention="eala", shard_nodes=True,
  )


def _compile_step(nodes: int, preset: str):
  """(compiled step, state placement, abstract batch, model config, model def) at `nodes`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top

  from entropy_attention_jax.data import StandardScaler  # pylint: disable=g-import-not-at-top
  from entropy_attention_jax.models.elinformer import NODE_PARAMETERS  # pylint: disable=g-import-not-at-top
  from entropy_attention_jax.training import sharding, steps  # pylint: disable=g-import-not-at-top

  config = _model_config(nodes, preset)
  optimizer = optax.adamw(1e-3, weight_decay=5e-4)
  model_def, abstract_state = _abstract_state(config, optimizer)
  mesh = sharding.make_mesh(shard_nodes=True, num_nodes=nodes)
  placement = sharding.state_sharding(abstract_state, mesh, NODE_PARAMETERS)
  scaler = StandardScaler(np.array([50.0]), np.array([10.0]))
  step = steps.jit_train_step(steps.make_train_step(model_def, optimizer, scaler), mesh, placement)
  shapes = {"x": (1, 12, nodes, 3), "y": (1, 12, nodes, 1), "valid": (1,)}
  dtypes = {"x": jnp.float32, "y": jnp.float32, "valid": jnp.bool_}
  batch = {name: jax.ShapeDtypeStruct(shape, dtypes[name],
                                      sharding=sharding.batch_sharded(mesh, len(shape)))
           for name, shape in shapes.items()}
  abstract = jax.tree.map(
      lambda leaf, s: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=s),
      abstract_state, placement,
  )
  return step.lower(abstract, batch).compile(), placement, batch, config, model_def


def _abstract_state(config, optimizer):
  import jax  # pylint: disable=g-import-not-at-top

  from entropy_attention_jax.training import state as state_lib  # pylint: disable=g-import-not-at-top

  holder = {}

  def build():
    model_def, state = state_lib.init_train_state(config, optimizer, 0)
    holder["model_def"] = model_def
    return state

  abstract = jax.eval_shape(build)
  return holder["model_def"], abstract


def _peak(compiled) -> int:
  stats = compiled.memory_analysis()
  return int(stats.argument_size_in_bytes + stats.output_size_in_bytes
             + stats.temp_size_in_bytes - stats.alias_size_in_bytes)


def _time_step(nodes: int, preset: str, compiled, placement, batch_specs, repeats: int):
  """Median wall and CPU seconds of real steps (random inputs, fresh state)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top

  from entropy_attention_jax.training import sharding, state as state_lib  # pylint: disable=g-import-not-at-top

  config = _model_config(nodes, preset)
  _, state = state_lib.init_train_state(config, optax.adamw(1e-3, weight_decay=5e-4), 0)
  state = sharding.place(state, placement)
  rng = np.random.default_rng(0)
  x = np.stack([rng.standard_normal((1, 12, nodes)), rng.uniform(0, 1, (1, 12, nodes)),
                rng.integers(0, 7, (1, 12, nodes)).astype(float)], axis=-1).astype(np.float32)
  values = {"x": x, "y": (50 + 10 * rng.standard_normal((1, 12, nodes, 1))).astype(np.float32),
            "valid": np.ones(1, bool)}
  batch = {name: jax.device_put(values[name], spec.sharding) for name, spec in batch_specs.items()}
  state, _ = compiled(state, batch)  # Warm-up.
  jax.block_until_ready(state)
  walls, cpus = [], []
  for _ in range(repeats):
    wall, cpu = time.perf_counter(), time.process_time()
    state, measurements = compiled(state, batch)
    jax.block_until_ready(measurements)
    walls.append(time.perf_counter() - wall)
    cpus.append(time.process_time() - cpu)
  return float(np.median(walls)), float(np.median(cpus))


def _layer_bytes(nodes: int, preset: str, kind: str) -> dict[str, int]:
  """Collective bytes of one node-sharded spatial attention layer's forward pass."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from jax.sharding import NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top

  from entropy_attention_jax.nn import EntropyLinearAttention  # pylint: disable=g-import-not-at-top
  from entropy_attention_jax.training import hlo, sharding  # pylint: disable=g-import-not-at-top

  config = _model_config(nodes, preset, kind)
  layer = nnx.eval_shape(lambda: EntropyLinearAttention(
      config.num_heads, config.model_dim, attention=kind, rngs=nnx.Rngs(0)))
  graph, params = nnx.split(layer)
  mesh = sharding.make_mesh(shard_nodes=True, num_nodes=nodes)
  h = NamedSharding(mesh, PartitionSpec(None, None, sharding.NODES_AXIS))
  rep = sharding.replicated(mesh)
  params = jax.tree.map(lambda p: jax.ShapeDtypeStruct(p.shape, p.dtype, sharding=rep), params)
  inputs = jax.ShapeDtypeStruct((1, 12, nodes, config.model_dim), jnp.float32, sharding=h)
  compiled = jax.jit(lambda p, x: nnx.merge(graph, p)(x, deterministic=True),
                     out_shardings=h).lower(params, inputs).compile()
  return hlo.bytes_by_op(hlo.collectives(compiled.as_text()))


def worker(args) -> None:
  import jax  # pylint: disable=g-import-not-at-top

  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import _bench_utils as bu  # pylint: disable=g-import-not-at-top

  from entropy_attention_jax.training import hlo  # pylint: disable=g-import-not-at-top

  devices = len(jax.devices())
  records = []
  for nodes in args.nodes:
    start = time.perf_counter()
    compiled, placement, batch, config, _ = _compile_step(nodes, args.preset)
    compile_s = time.perf_counter() - start
    peak = _peak(compiled)
    step_bytes = hlo.bytes_by_op(hlo.collectives(compiled.as_text()))
    record = {"devices": devices, "nodes": nodes, "per_device_bytes": peak,
              "compile_s": compile_s, "step_collectives": step_bytes}
    # Forced CPU devices share this machine's memory: run only what fits.
    if peak * devices < args.memory_fraction * bu.available_memory_bytes():
      record["wall_s"], record["cpu_s"] = _time_step(
          nodes, args.preset, compiled, placement, batch, args.repeats)
      # The whole process's peak resident memory so far (all devices share it).
      record["host_peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if args.communication and devices > 1:
      record["eala_layer"] = _layer_bytes(nodes, args.preset, "eala")
      record["softmax_layer"] = _layer_bytes(nodes, args.preset, "softmax")
    print(json.dumps(record), flush=True)
    records.append(record)
    del compiled
  # The largest graph per device: a line through per-device bytes vs nodes,
  # checked by compiling it (and shrunk once if the check exceeds the budget).
  points = [(r["nodes"], r["per_device_bytes"]) for r in records]
  if len(points) < 2:
    return
  (x0, y0), (x1, y1) = points[0], points[-1]
  slope = (y1 - y0) / (x1 - x0)
  intercept = y0 - slope * x0
  multiple = 4 * devices
  largest = int((args.budget - intercept) / slope) // multiple * multiple
  checked = _peak(_compile_step(largest, args.preset)[0]) if args.check else None
  if checked is not None and checked > args.budget:
    largest = int(largest * args.budget / checked) // multiple * multiple
    checked = _peak(_compile_step(largest, args.preset)[0])
  print(json.dumps({"devices": devices, "fit": True, "bytes_per_node": slope,
                    "fixed_bytes": intercept, "largest_nodes": largest,
                    "checked_bytes": checked}), flush=True)


def _run_worker(devices: int, nodes, preset: str, repeats: int, communication: bool,
                budget: float, check: bool, memory_fraction: float) -> list[dict]:
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  command = [sys.executable, os.path.abspath(__file__), "--worker", "--preset", preset,
             "--repeats", str(repeats), "--nodes", *map(str, nodes)]
  command += ["--budget", str(budget), "--memory-fraction", str(memory_fraction)]
  command += ["--check"] if check else []
  if communication:
    command.append("--communication")
  result = subprocess.run(command, env=env, capture_output=True, text=True)
  if result.returncode:
    raise SystemExit(f"worker on {devices} devices failed:\n{result.stderr[-3000:]}")
  return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def _mib(n: float) -> str:
  return f"{n / 2**20:,.1f}"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="small graphs, tiny preset (seconds)")
  parser.add_argument("--out", default=None, help="directory for the tables (CSV, JSON, Markdown)")
  parser.add_argument("--budget-gib", type=float, default=16.0,
                      help="per-device memory budget of the 'largest graph' table")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--preset", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--repeats", type=int, default=2, help=argparse.SUPPRESS)
  parser.add_argument("--nodes", type=int, nargs="*", default=None,
                      help="node counts (default: 2000 8600 20000 50000; --quick: 256 1024)")
  parser.add_argument("--devices", type=int, nargs="*", default=None,
                      help="forced CPU device counts (default: 1 2 4)")
  parser.add_argument("--budget", type=float, default=16 * GIB, help=argparse.SUPPRESS)
  parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--memory-fraction", type=float, default=0.8,
                      help="run a step only if all its devices' peaks fit this fraction of the"
                      " free memory (default 0.8)")
  parser.add_argument("--communication", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    worker(args)
    return
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import _bench_utils as bu  # pylint: disable=g-import-not-at-top

  nodes = args.nodes or (QUICK_NODES if args.quick else FULL_NODES)
  device_counts = tuple(args.devices or (QUICK_DEVICES if args.quick else DEVICES))
  preset = "tiny" if args.quick else "small"
  repeats = 1 if args.quick else 2
  budget = args.budget_gib * GIB
  records, fits = [], []
  for devices in device_counts:
    for record in _run_worker(devices, nodes, preset, repeats,
                              communication=devices == max(device_counts) > 1, budget=budget,
                              check=not args.quick, memory_fraction=args.memory_fraction):
      (fits if record.get("fit") else records).append(record)
  by = {(r["devices"], r["nodes"]): r for r in records}

  print(f"# bench_scale ({'quick, tiny' if args.quick else 'small'} preset, batch 1,"
        f" {bu.machine_description()})\n")
  rows = []
  for n in nodes:
    base = by.get((1, n))
    for devices in device_counts:
      r = by[devices, n]
      ratio = f"{base['per_device_bytes'] / r['per_device_bytes']:.2f}x" if base else "-"
      timed = "wall_s" in r
      rows.append([f"{n:,}", devices, _mib(r["per_device_bytes"]), ratio,
                   f"{r['wall_s']:.3f}" if timed else "not run (memory)",
                   f"{r['cpu_s']:.3f}" if timed else "-",
                   f"{r['host_peak_rss'] / GIB:.1f}" if timed else "-", f"{r['compile_s']:.1f}"])
  table1 = bu.markdown_table(
      ["nodes", "devices", "per-device peak (MiB)", "1-device / this", "step wall (s)",
       "step CPU (s)", "process peak RSS, all devices (GiB)", "compile (s)"], rows)
  print("Per-device memory and step time (training step, node-sharded EALA):\n")
  print(table1 + "\n")

  devices = max(device_counts)
  rows = []
  for n in nodes:
    r = by[devices, n]
    if "eala_layer" not in r:
      continue
    eala, softmax, step = r["eala_layer"], r["softmax_layer"], r["step_collectives"]
    rows.append([f"{n:,}", eala.get("all-reduce", 0), eala.get("all-gather", 0),
                 softmax.get("all-gather", 0), step.get("all-reduce", 0),
                 step.get("all-gather", 0)])
  table2 = bu.markdown_table(
      ["nodes", "EALA layer all-reduce (B)", "EALA layer all-gather (B)",
       "softmax layer all-gather (B)", "EALA step all-reduce (B)", "EALA step all-gather (B)"],
      rows)
  print(f"Communication on {devices} devices (bytes of the collectives' arrays in the compiled"
        " HLO; one spatial layer's forward pass, and the whole EALA training step):\n")
  print(table2 + "\n")

  rows = [[f["devices"], f"{f['bytes_per_node'] / 1024:,.1f}", _mib(f["fixed_bytes"]),
           f"{f['largest_nodes']:,}",
           _mib(f["checked_bytes"]) if f["checked_bytes"] else "not checked (--quick)"]
          for f in fits]
  table3 = bu.markdown_table(
      ["devices", "KiB per node", "fixed (MiB)", f"largest graph in {args.budget_gib:g} GiB/device",
       "its compiled per-device peak (MiB)"], rows)
  if fits:  # Needs two node counts.
    print(f"Largest graph whose training step fits {args.budget_gib:g} GiB per device (linear"
          " fit through the first and last node count, checked by compiling the step at that"
          " size):\n")
    print(table3)
  bu.write_results(args.out, "memory_time", records, table1)
  bu.write_results(args.out, "communication",
                   [by[devices, n] for n in nodes if "eala_layer" in by[devices, n]], table2)
  bu.write_results(args.out, "largest_graph", fits, table3)


if __name__ == "__main__":
  main()
