"""ELinFormer: parameter count at PEMS08, and training-step cost versus number of nodes.

(a) Parameters of ELinFormer at the PEMS08 configuration (170 nodes, 12 -> 12
steps, STAEformer's sizes) for every attention kind, beside STAEformer's count
from its released code (XDZhelheim/STAEformer, model/STAEformer.py with the
PEMS08 `model_args` of model/STAEformer.yaml), tensor by tensor. The STAEformer
paper and README quote no parameter count, so none is quoted here.

(b) One training step — forward and backward of the Huber loss, dropout on,
float32 — of the full model (3 temporal + 3 spatial layers) with 12 steps in
and out over N nodes, all attention EALA versus all softmax. For each N the
batch is 16 or, if EALA's step does not fit the memory limit, the largest of
8, 4, 2, 1 that does; softmax runs at the same batch. Peak memory is XLA's
buffer assignment of the compiled step (arguments + outputs + temporaries),
known before running, so a step that does not fit is compiled and reported
with what it would need, never run. Time is the median of a few runs after
one warm-up; ratios are softmax / EALA from the same run.

  python experiments/bench_elinformer.py           # N = 170, 883, 2000, 8600 (minutes)
  python experiments/bench_elinformer.py --quick   # N = 64, batch 2 (under a minute)
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import _bench_utils as bu
from entropy_attention_jax import ATTENTION_FUNCTIONS, ELinFormer, ELinFormerConfig
from entropy_attention_jax.models import describe, parameter_count

FULL_NODES = (170, 883, 2000, 8600)
QUICK_NODES = (64,)
BATCHES = (16, 8, 4, 2, 1)
GIB = 2**30


def staeformer_parameter_shapes(
    num_nodes: int, *, input_dim: int = 3, in_steps: int = 12, out_steps: int = 12,
    steps_per_day: int = 288, embedding: int = 24, adaptive: int = 80,
    feed_forward: int = 256, num_layers: int = 3, output_dim: int = 1,
) -> dict[str, tuple[int, ...]]:
  """Parameter tensors of STAEformer's PyTorch module (names as in its code).

  `input_dim=3` is the released PEMS08 configuration: the input projection
  reads the signal and the raw time-of-day and day-of-week channels.
  """
  model_dim = 3 * embedding + adaptive
  shapes = {
      "input_proj.weight": (embedding, input_dim), "input_proj.bias": (embedding,),
      "tod_embedding.weight": (steps_per_day, embedding),
      "dow_embedding.weight": (7, embedding),
      "adaptive_embedding": (in_steps, num_nodes, adaptive),
      "output_proj.weight": (out_steps * output_dim, in_steps * model_dim),
      "output_proj.bias": (out_steps * output_dim,),
  }
  for stack in ("attn_layers_t", "attn_layers_s"):
    for layer in range(num_layers):
      prefix = f"{stack}.{layer}"
      for projection in ("FC_Q", "FC_K", "FC_V", "out_proj"):
        shapes[f"{prefix}.attn.{projection}.weight"] = (model_dim, model_dim)
        shapes[f"{prefix}.attn.{projection}.bias"] = (model_dim,)
      shapes[f"{prefix}.feed_forward.0.weight"] = (feed_forward, model_dim)
      shapes[f"{prefix}.feed_forward.0.bias"] = (feed_forward,)
      shapes[f"{prefix}.feed_forward.2.weight"] = (model_dim, feed_forward)
      shapes[f"{prefix}.feed_forward.2.bias"] = (model_dim,)
      for norm in ("ln1", "ln2"):
        shapes[f"{prefix}.{norm}.weight"] = (model_dim,)
        shapes[f"{prefix}.{norm}.bias"] = (model_dim,)
  return shapes


def abstract_model(config: ELinFormerConfig) -> ELinFormer:
  return nnx.eval_shape(lambda: ELinFormer(config, rngs=nnx.Rngs(0)))


def parameter_section(num_nodes: int) -> tuple[str, list[dict]]:
  records = []
  for input_dim in (1, 3):
    reference = sum(
        math.prod(s) for s in staeformer_parameter_shapes(num_nodes, input_dim=input_dim).values()
    )
    records.append({"model": f"STAEformer (released code), input_dim={input_dim}",
                    "parameters": reference})
    for kind in ATTENTION_FUNCTIONS:
      config = ELinFormerConfig(num_nodes=num_nodes, input_dim=input_dim,
                                temporal_attention=kind, spatial_attention=kind)
      count = parameter_count(abstract_model(config))
      records.append({"model": f"ELinFormer {kind}, input_dim={input_dim}", "parameters": count,
                      "difference": count - reference})
  rows = [[r["model"], f"{r['parameters']:,}", f"{r.get('difference', '')}"] for r in records]
  table = bu.markdown_table(["model", "parameters", "difference to STAEformer"], rows)
  eala = abstract_model(ELinFormerConfig(num_nodes=num_nodes))
  return table + "\n\n```\n" + describe(eala) + "\n```", records


def make_inputs(config: ELinFormerConfig, batch: int) -> tuple[jax.Array, jax.Array]:
  keys = jax.random.split(jax.random.key(0), 4)
  shape = (batch, config.in_steps, config.num_nodes)
  x = jnp.stack([
      jax.random.normal(keys[0], shape),
      jax.random.randint(keys[1], shape, 0, config.steps_per_day) / config.steps_per_day,
      jax.random.randint(keys[2], shape, 0, 7).astype(jnp.float32),
  ], axis=-1)
  targets = jax.random.normal(keys[3], (batch, config.out_steps, config.num_nodes, 1))
  return x, targets


def compile_train_step(config: ELinFormerConfig, batch: int):
  """The jitted loss-and-gradient step, compiled from shapes only."""
  graphdef, params, rest = nnx.split(abstract_model(config), nnx.Param, ...)

  def train_step(params, rest, x, targets):
    def loss_fn(model):
      return jnp.mean(optax.huber_loss(model(x, deterministic=False), targets))

    return nnx.value_and_grad(loss_fn)(nnx.merge(graphdef, params, rest))

  x, targets = jax.eval_shape(lambda: make_inputs(config, batch))
  return jax.jit(train_step).lower(params, rest, x, targets).compile()


def measure_step(config: ELinFormerConfig, batch: int, compiled, *, budget_s: float
                 ) -> tuple[float, int]:
  """Median step time after one warm-up, and the number of timed runs.

  Up to 3 timed runs, fewer once `budget_s` is spent (slow softmax steps).
  """
  _, params, rest = nnx.split(ELinFormer(config, rngs=nnx.Rngs(0)), nnx.Param, ...)
  x, targets = make_inputs(config, batch)
  run = lambda: jax.block_until_ready(compiled(params, rest, x, targets))
  run()  # warm-up: first touches of the buffers
  times = []
  while len(times) < 3 and (not times or sum(times) < budget_s):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return statistics.median(times), len(times)


def largest_fitting_batch(config: ELinFormerConfig, batches: tuple[int, ...], limit: float):
  """`(batch, compiled)` for the largest batch whose step fits `limit`.

  Memory is close to linear in the batch, so after the first compile the next
  candidate is predicted from it; every candidate is still verified. When
  nothing fits, returns `(None, step compiled at the smallest batch)`.
  """
  index = 0
  while True:
    compiled = compile_train_step(config, batches[index])
    peak = bu.compiled_peak_bytes(compiled)
    if peak <= limit:
      return batches[index], compiled
    if index == len(batches) - 1:
      return None, compiled
    per_sample = peak / batches[index]
    index = next(
        (i for i in range(index + 1, len(batches)) if per_sample * batches[i] <= limit),
        len(batches) - 1,
    )


def scaling_section(nodes, *, batches, fit_limit, memory_share, budget_s):
  """Both kinds at the largest batch where both fit, else at EALA's largest.

  A step runs only if it fits `fit_limit` and `memory_share` of the memory
  available when its node count comes up (the machine may be shared).
  """
  records = []
  for num_nodes in nodes:
    run_limit = bu.available_memory_bytes() * memory_share
    limit = min(fit_limit, run_limit)
    configs = {
        kind: ELinFormerConfig(num_nodes=num_nodes, temporal_attention=kind, spatial_attention=kind)
        for kind in ("eala", "softmax")
    }
    batch, softmax_step = largest_fitting_batch(configs["softmax"], batches, limit)
    if batch is not None:
      compiled = {"eala": compile_train_step(configs["eala"], batch), "softmax": softmax_step}
    else:
      batch, eala_step = largest_fitting_batch(configs["eala"], batches, limit)
      batch = batches[-1] if batch is None else batch
      compiled = {"eala": eala_step, "softmax": compile_train_step(configs["softmax"], batch)}
    for kind, program in compiled.items():
      peak = bu.compiled_peak_bytes(program)
      record = {"nodes": num_nodes, "batch": batch, "kind": kind, "peak_bytes": peak,
                "fits": peak <= fit_limit, "run_limit_bytes": run_limit, "seconds": None,
                "runs": 0}
      if peak <= limit:
        record["seconds"], record["runs"] = measure_step(
            configs[kind], batch, program, budget_s=budget_s
        )
      records.append(record)
      timing = "" if record["seconds"] is None else (
          f" {bu.format_seconds(record['seconds'])} (median of {record['runs']})")
      print(f"  N={num_nodes} batch={batch} {kind}: peak {bu.format_bytes(peak)}{timing}",
            flush=True)
  return records


def scaling_table(records, fit_limit: float) -> str:
  by_key = {(r["nodes"], r["kind"]): r for r in records}
  rows = []
  for num_nodes in sorted({r["nodes"] for r in records}):
    eala, softmax = by_key[(num_nodes, "eala")], by_key[(num_nodes, "softmax")]

    def cell(r):
      if r["seconds"] is not None:
        return f"{bu.format_seconds(r['seconds'])} ({r['runs']})"
      if not r["fits"]:
        return (f"does not fit: needs {r['peak_bytes'] / GIB:.1f} GiB"
                " (measured by XLA buffer assignment)")
      return (f"not run: fits {fit_limit / GIB:.0f} GiB but exceeds the"
              f" {r['run_limit_bytes'] / GIB:.1f} GiB free here")

    both = eala["seconds"] and softmax["seconds"]
    rows.append([
        num_nodes, eala["batch"], cell(eala), cell(softmax),
        f"{softmax['seconds'] / eala['seconds']:.1f}×" if both else "—",
        bu.format_bytes(eala["peak_bytes"]), bu.format_bytes(softmax["peak_bytes"]),
        f"{softmax['peak_bytes'] / eala['peak_bytes']:.1f}×",
    ])
  return bu.markdown_table(
      ["nodes", "batch", "EALA step (runs)", "softmax step (runs)", "time softmax/EALA",
       "EALA peak", "softmax peak", "peak softmax/EALA"], rows,
  )


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="small N and batch only")
  parser.add_argument("--nodes", type=int, nargs="*", help="override the node counts")
  parser.add_argument("--batches", type=int, nargs="*", help="batch ladder, largest first")
  parser.add_argument("--fit-gib", type=float, default=24.0,
                      help="memory a step must fit in (the issue's 24 GiB)")
  parser.add_argument("--budget-s", type=float, default=60.0,
                      help="timed runs stop once they took this long (at least one)")
  parser.add_argument("--memory-share", type=float, default=0.8,
                      help="run a step only within this share of the free memory")
  parser.add_argument("--out", default="results/bench_elinformer", help="directory for CSV/JSON/MD")
  args = parser.parse_args(argv)

  nodes = args.nodes or (QUICK_NODES if args.quick else FULL_NODES)
  batches = tuple(args.batches or ((2,) if args.quick else BATCHES))
  fit_limit = args.fit_gib * GIB
  print(f"# ELinFormer benchmark — {bu.machine_description()}\n", flush=True)

  params_table, param_records = parameter_section(170)
  print("## Parameters at the PEMS08 configuration (170 nodes)\n\n" + params_table + "\n",
        flush=True)
  bu.write_results(args.out, "parameters", param_records, params_table)

  print("## One training step (forward + backward, dropout on), 12 -> 12 steps, float32\n",
        flush=True)
  records = scaling_section(
      nodes, batches=batches, fit_limit=fit_limit, memory_share=args.memory_share,
      budget_s=args.budget_s,
  )
  free = sorted(r["run_limit_bytes"] / GIB for r in records)
  table = scaling_table(records, fit_limit) + (
      f"\n\nBatch: the largest of {list(batches)} at which both kinds' steps fit both"
      f" {fit_limit / GIB:.0f} GiB and {args.memory_share:.0%} of the memory free at the"
      f" time ({free[0]:.1f}–{free[-1]:.1f} GiB), else EALA's largest. Peak = XLA buffer"
      " assignment of the compiled step (arguments + outputs + temporaries). Time: median"
      " of the timed runs (in parentheses) after one warm-up."
  )
  print("\n" + table)
  bu.write_results(args.out, "training_step", records, table)


if __name__ == "__main__":
  main()
