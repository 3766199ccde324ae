"""ELinFormer: parameter count at PEMS08, and training-step cost versus number of nodes.

(a) Parameters of ELinFormer at the PEMS08 configuration (170 nodes, 12 -> 12
steps, STAEformer's sizes) for every attention kind, beside STAEformer's count
from its released code (XDZhelheim/STAEformer, model/STAEformer.py with the
PEMS08 `model_args` of model/STAEformer.yaml), tensor by tensor. The STAEformer
paper and README quote no parameter count, so none is quoted here.

(b) One training step — forward and backward of the Huber loss, dropout on,
float32, and the optimiser update (Adam with L2 weight decay, the library's
`make_optimizer`; parameters and optimiser state donated) — of the full model (3 temporal + 3 spatial layers) with 12 steps in
and out over N nodes, all attention EALA versus all softmax. For each N the
batch is the largest of 16, 8, 4, 2, 1 at which both kinds' steps fit the run
limit (`--run-gib`, 16 GiB: the machine may be shared), else EALA's largest;
the largest batch within 24 GiB is reported beside. Peak memory is XLA's
buffer assignment of the compiled step (arguments + outputs + temporaries),
known before running, so a step that does not fit is compiled and reported
with what it would need, never run. Time is the median wall and process CPU
time of a few runs after one warm-up; ratios are softmax / EALA from the same
run.

(c) The same step at 2000 nodes with parts swapped or removed (dropout,
temporal attention kind, Taylor's θ ≡ 1), to show where EALA's time goes.

  python experiments/bench_elinformer.py           # N = 170, 883, 2000, 8600 (minutes)
  python experiments/bench_elinformer.py --nodes 2000   # one row and the breakdown
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
from entropy_attention_jax.training.config import OptimConfig
from entropy_attention_jax.training.optim import make_optimizer

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


# STAEformer's PEMS08 optimiser: Adam, lr 1e-3, L2 weight decay 1.5e-3.
OPTIMIZER = make_optimizer(OptimConfig(weight_decay=1.5e-3), steps_per_epoch=1000)


def compile_train_step(config: ELinFormerConfig, batch: int):
  """The jitted training step (loss, gradient, Adam update), compiled from shapes only.

  `step(params, opt_state, rest, x, targets) -> (params, opt_state, loss)`, the
  parameters and optimiser state donated.
  """
  graphdef, params, rest = nnx.split(abstract_model(config), nnx.Param, ...)

  def train_step(params, opt_state, rest, x, targets):
    def loss_fn(model):
      return jnp.mean(optax.huber_loss(model(x, deterministic=False), targets))

    # Gradients of the `nnx.Param` leaves: the same tree as `params`.
    loss, grads = nnx.value_and_grad(loss_fn)(nnx.merge(graphdef, params, rest))
    updates, opt_state = OPTIMIZER.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  x, targets = jax.eval_shape(lambda: make_inputs(config, batch))
  opt_state = jax.eval_shape(OPTIMIZER.init, params)
  return jax.jit(train_step, donate_argnums=(0, 1)).lower(
      params, opt_state, rest, x, targets).compile()


def measure_step(config: ELinFormerConfig, batch: int, compiled, *, budget_s: float
                 ) -> dict[str, float]:
  """Median wall and CPU time of a step after one warm-up, and the number of runs.

  Up to 3 timed runs, fewer once `budget_s` is spent (slow softmax steps). CPU
  time (this process, all threads) is less disturbed than wall time when other
  jobs share the machine.
  """
  _, params, rest = nnx.split(ELinFormer(config, rngs=nnx.Rngs(0)), nnx.Param, ...)
  x, targets = make_inputs(config, batch)
  carry = [params, OPTIMIZER.init(params)]

  def run():
    carry[0], carry[1], loss = compiled(carry[0], carry[1], rest, x, targets)
    jax.block_until_ready(loss)

  run()  # warm-up: first touches of the buffers
  wall, cpu = [], []
  while len(wall) < 3 and (not wall or sum(wall) < budget_s):
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    run()
    wall.append(time.perf_counter() - wall_start)
    cpu.append(time.process_time() - cpu_start)
  return {"seconds": statistics.median(wall), "cpu_seconds": statistics.median(cpu),
          "runs": len(wall)}


class StepPrograms:
  """Compiled training steps of one node count, by kind and batch (compiled once)."""

  def __init__(self, num_nodes: int, batches: tuple[int, ...]):
    self.batches = batches
    self.configs = {
        kind: ELinFormerConfig(num_nodes=num_nodes, temporal_attention=kind, spatial_attention=kind)
        for kind in ("eala", "softmax")
    }
    self._compiled = {}

  def compiled(self, kind: str, batch: int):
    if (kind, batch) not in self._compiled:
      self._compiled[(kind, batch)] = compile_train_step(self.configs[kind], batch)
    return self._compiled[(kind, batch)]

  def peak(self, kind: str, batch: int) -> int:
    return bu.compiled_peak_bytes(self.compiled(kind, batch))

  def largest_fitting_batch(self, kind: str, limit: float) -> int | None:
    """The largest batch of the ladder whose step fits `limit`, or None.

    Memory is close to linear in the batch, so after a compile the next
    candidate is predicted from it; every candidate is still verified.
    """
    index = 0
    while True:
      peak = self.peak(kind, self.batches[index])
      if peak <= limit:
        return self.batches[index]
      if index == len(self.batches) - 1:
        return None
      per_sample = peak / self.batches[index]
      index = next(
          (i for i in range(index + 1, len(self.batches))
           if per_sample * self.batches[i] <= limit),
          len(self.batches) - 1,
      )


def wait_for_memory(needed: float, timeout_s: float) -> bool:
  """Waits until `needed` bytes (plus 2 GiB headroom) are free; False on timeout."""
  deadline = time.monotonic() + timeout_s
  while bu.available_memory_bytes() < needed + 2 * GIB:
    if time.monotonic() > deadline:
      return False
    time.sleep(5)
  return True


def scaling_section(nodes, *, batches, fit_limit, run_limit, wait_s, budget_s):
  """Both kinds at the largest batch where both steps fit `run_limit`, else EALA's largest.

  `fit_limit` is the memory the question is about (24 GiB); `run_limit` is what
  a step may take here, fixed so that the choice of batch does not depend on
  what else runs on the machine. Before each run the free memory is awaited.
  """
  records = []
  for num_nodes in nodes:
    programs = StepPrograms(num_nodes, batches)
    batch = (
        programs.largest_fitting_batch("softmax", run_limit)
        or programs.largest_fitting_batch("eala", run_limit)
        or batches[-1]
    )
    for kind in ("eala", "softmax"):
      peak = programs.peak(kind, batch)
      record = {
          "nodes": num_nodes, "batch": batch, "kind": kind, "peak_bytes": peak,
          "fits": peak <= fit_limit, "seconds": None, "cpu_seconds": None, "runs": 0,
          "largest_batch_fitting": programs.largest_fitting_batch(kind, fit_limit),
      }
      if peak <= run_limit and wait_for_memory(peak, wait_s):
        record.update(measure_step(
            programs.configs[kind], batch, programs.compiled(kind, batch), budget_s=budget_s
        ))
      records.append(record)
      timing = "" if record["seconds"] is None else (
          f" {bu.format_seconds(record['seconds'])}, CPU {bu.format_seconds(record['cpu_seconds'])}"
          f" (median of {record['runs']})")
      print(f"  N={num_nodes} batch={batch} {kind}: peak {bu.format_bytes(peak)}{timing}",
            flush=True)
  return records


def scaling_table(records, fit_limit: float, run_limit: float) -> str:
  by_key = {(r["nodes"], r["kind"]): r for r in records}
  rows = []
  for num_nodes in sorted({r["nodes"] for r in records}):
    eala, softmax = by_key[(num_nodes, "eala")], by_key[(num_nodes, "softmax")]

    def cell(r):
      if r["seconds"] is not None:
        return (f"{bu.format_seconds(r['seconds'])}, CPU {bu.format_seconds(r['cpu_seconds'])}"
                f" ({r['runs']})")
      if not r["fits"]:
        return (f"does not fit: needs {r['peak_bytes'] / GIB:.1f} GiB"
                " (measured by XLA buffer assignment)")
      if r["peak_bytes"] > run_limit:
        return f"not run: over the {run_limit / GIB:.0f} GiB run limit"
      return "not run: memory did not come free"

    both = eala["seconds"] and softmax["seconds"]
    fitting = "/".join(str(r["largest_batch_fitting"] or "none") for r in (eala, softmax))
    rows.append([
        num_nodes, eala["batch"], cell(eala), cell(softmax),
        f"{softmax['seconds'] / eala['seconds']:.1f}×" if both else "—",
        f"{softmax['cpu_seconds'] / eala['cpu_seconds']:.1f}×" if both else "—",
        bu.format_bytes(eala["peak_bytes"]), bu.format_bytes(softmax["peak_bytes"]),
        f"{softmax['peak_bytes'] / eala['peak_bytes']:.1f}×", fitting,
    ])
  return bu.markdown_table(
      ["nodes", "batch", "EALA step (runs)", "softmax step (runs)", "time softmax/EALA",
       "CPU time softmax/EALA",
       "EALA peak", "softmax peak", "peak softmax/EALA",
       f"largest batch within {fit_limit / GIB:.0f} GiB (EALA/softmax)"], rows,
  )


BREAKDOWN_VARIANTS = {
    "all softmax": dict(temporal_attention="softmax", spatial_attention="softmax"),
    "all EALA": dict(),
    "all EALA, no dropout": dict(dropout_rate=0.0),
    "softmax temporal, EALA spatial": dict(temporal_attention="softmax"),
    "all Taylor (θ ≡ 1, no entropy estimate)": dict(
        temporal_attention="taylor", spatial_attention="taylor"
    ),
}


def breakdown_section(num_nodes: int, batch: int, *, budget_s: float) -> tuple[str, list[dict]]:
  """Where an EALA step's time goes: the same step with parts swapped or removed."""
  records = []
  for name, overrides in BREAKDOWN_VARIANTS.items():
    config = ELinFormerConfig(num_nodes=num_nodes, **overrides)
    record = {"variant": name, "nodes": num_nodes, "batch": batch}
    record.update(measure_step(config, batch, compile_train_step(config, batch), budget_s=budget_s))
    records.append(record)
    print(f"  {name}: CPU {bu.format_seconds(record['cpu_seconds'])}", flush=True)
  reference = records[0]["cpu_seconds"]
  rows = [
      [r["variant"], bu.format_seconds(r["cpu_seconds"]), bu.format_seconds(r["seconds"]),
       f"{reference / r['cpu_seconds']:.1f}×"]
      for r in records
  ]
  table = bu.markdown_table(
      ["variant", "step CPU time", "step wall time", "all-softmax CPU / this"], rows
  )
  return table, records


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="small N and batch only")
  parser.add_argument("--nodes", type=int, nargs="*", help="override the node counts")
  parser.add_argument("--batches", type=int, nargs="*", help="batch ladder, largest first")
  parser.add_argument("--fit-gib", type=float, default=24.0,
                      help="memory a step must fit in (the issue's 24 GiB)")
  parser.add_argument("--budget-s", type=float, default=60.0,
                      help="timed runs stop once they took this long (at least one)")
  parser.add_argument("--run-gib", type=float, default=16.0,
                      help="largest step run here (the machine may be shared)")
  parser.add_argument("--wait-s", type=float, default=600.0,
                      help="how long to wait for memory to come free before a run")
  parser.add_argument("--breakdown-nodes", type=int, default=None,
                      help="nodes of the step breakdown (default 2000; none with --quick)")
  parser.add_argument("--breakdown-batch", type=int, default=1)
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

  print("## One training step (forward + backward + Adam update, dropout on), 12 -> 12 steps,"
        " float32\n",
        flush=True)
  run_limit = min(args.run_gib * GIB, fit_limit)
  records = scaling_section(
      nodes, batches=batches, fit_limit=fit_limit, run_limit=run_limit, wait_s=args.wait_s,
      budget_s=args.budget_s,
  )
  table = scaling_table(records, fit_limit, run_limit) + (
      f"\n\nBatch: the largest of {list(batches)} at which both kinds' steps fit the"
      f" {run_limit / GIB:.0f} GiB run limit of this shared machine, else EALA's largest;"
      f" the last column gives the largest within {fit_limit / GIB:.0f} GiB. Peak = XLA"
      " buffer assignment of the compiled step (arguments + outputs + temporaries). Time:"
      " median wall time of the timed runs (in parentheses) after one warm-up; CPU: the"
      " process's CPU time over all threads, steadier when other jobs share the CPUs."
  )
  print("\n" + table)
  bu.write_results(args.out, "training_step", records, table)

  breakdown_nodes = args.breakdown_nodes or (None if args.quick else 2000)
  if breakdown_nodes:
    print(f"\n## Step breakdown at {breakdown_nodes} nodes, batch {args.breakdown_batch}\n",
          flush=True)
    table, records = breakdown_section(
        breakdown_nodes, args.breakdown_batch, budget_s=args.budget_s
    )
    print("\n" + table)
    bu.write_results(args.out, "step_breakdown", records, table)


if __name__ == "__main__":
  main()
