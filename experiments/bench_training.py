"""Training throughput of ELinFormer, EALA versus softmax, at 170 and 2,000 nodes.

What `python -m entropy_attention_jax train` does per step, timed: build a
batch from the synthetic traffic dataset (gather the windows, z-score, time
features), pad and place it on the devices, run the jitted training step
(forward, Huber loss on the original scale, backward, Adam with weight decay,
dropout on), and fetch the loss. The model is STAEformer's size (3 temporal +
3 spatial layers, width 152) with the same attention kind on both axes. For
each node count both kinds run at the same batch: 16, or the largest of
8, 4, 2, 1 whose softmax step fits the memory limit (XLA's buffer assignment
of the compiled step, known before running). Throughput is the batch divided
by the median wall time of the steps after a warm-up; the speed-ups are
softmax's median step time over EALA's from the same run, in wall time and in
process CPU time (all threads), which other jobs on a shared machine disturb
less.

  python experiments/bench_training.py            # 170 and 2,000 nodes (minutes)
  python experiments/bench_training.py --quick    # 16 and 64 nodes, the "tiny" model (seconds)

Tables are printed and written to results/bench_training/ (CSV, JSON, Markdown).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

import jax

import _bench_utils as bu
from entropy_attention_jax import training
from entropy_attention_jax.training.config import resolve
from entropy_attention_jax.training.loop import build_run
from entropy_attention_jax.training.sharding import pad_batch, shard_batch
from entropy_attention_jax.training.steps import jit_train_step, make_train_step

KINDS = ("eala", "softmax")
BATCHES = (16, 8, 4, 2, 1)


def _config(nodes: int, days: int, kind: str, batch: int, data_dir: str, quick: bool):
  overrides = [
      f"data.data_dir={data_dir}", f"data.builder_options.nodes={nodes}",
      f"data.builder_options.days={days}", f"model.spatial_attention={kind}",
      f"model.temporal_attention={kind}", f"train.batch_size={batch}",
  ]
  return training.get_config(
      "synthetic_traffic", overlays=["tiny"] if quick else [], overrides=overrides
  )


def _compile(config, data, workdir):
  """The run and its compiled training step (for the run's first batch shape)."""
  run = build_run(resolve(config, data), data, workdir)
  step = jit_train_step(make_train_step(run.model_def, run.optimizer, data.scaler), run.mesh)
  batch = next(data.train.batches(config.train.batch_size, drop_remainder=True))
  start = time.perf_counter()
  batch = shard_batch(pad_batch(batch, run.train_rows), run.mesh)
  compiled = step.lower(run.initial_state, batch).compile()
  return run, compiled, time.perf_counter() - start


def _largest_fitting_batch(compile_fn, limit: float) -> int:
  """The first batch of `BATCHES` whose softmax step fits in `limit` bytes."""
  for batch in BATCHES:
    _, compiled, _ = compile_fn("softmax", batch)
    if bu.compiled_peak_bytes(compiled) <= limit:
      return batch
  return BATCHES[-1]


def _measure(
    run, compiled, *, warmup: int, steps: int, budget_s: float
) -> tuple[list[float], list[float]]:
  """Wall and process CPU time of each step after `warmup`, batches built as in training."""
  train = run.config.train
  state = run.initial_state
  times: list[float] = []
  cpu_times: list[float] = []
  start = time.perf_counter()
  epoch = 0
  while True:
    for batch in run.data.train.batches(
        train.batch_size, shuffle=True, seed=train.seed, epoch=epoch, drop_remainder=True
    ):
      t0, c0 = time.perf_counter(), time.process_time()
      sharded = shard_batch(pad_batch(batch, run.train_rows), run.mesh)
      state, measurements = compiled(state, sharded)
      float(measurements["loss"])  # the loop fetches the loss every step
      times.append(time.perf_counter() - t0)
      cpu_times.append(time.process_time() - c0)
      done = len(times) >= warmup + steps or (
          len(times) > warmup + 2 and time.perf_counter() - start > budget_s
      )
      if done:
        return times[warmup:], cpu_times[warmup:]
    epoch += 1


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="16 and 64 nodes, tiny model")
  parser.add_argument("--nodes", type=int, nargs="*", help="override the node counts")
  parser.add_argument("--days", type=int, default=2, help="days of synthetic data (default 2)")
  parser.add_argument("--batch", type=int, default=None, help="fixed batch (default: auto)")
  parser.add_argument("--steps", type=int, default=10, help="timed steps per row (default 10)")
  parser.add_argument("--budget-s", type=float, default=120.0, help="time budget per row")
  parser.add_argument("--fit-gib", type=float, default=None,
                      help="memory limit for a step (default: 80%% of available memory)")
  parser.add_argument("--data-dir", default="results/bench_training/data")
  parser.add_argument("--out", default="results/bench_training", help="directory for CSV/JSON/MD")
  args = parser.parse_args(argv)

  nodes_list = args.nodes or ((16, 64) if args.quick else (170, 2000))
  steps = min(args.steps, 5) if args.quick else args.steps
  limit = args.fit_gib * 2**30 if args.fit_gib else 0.8 * bu.available_memory_bytes()
  machine = bu.machine_description()  # before any buffer is allocated
  records = []
  with tempfile.TemporaryDirectory() as workdir:
    for nodes in nodes_list:
      base = _config(nodes, args.days, "eala", 1, args.data_dir, args.quick)
      start = time.perf_counter()
      data = training.load_data(base.data)
      load_s = time.perf_counter() - start
      compiled_steps = {}

      def compile_fn(kind: str, batch: int):
        if (kind, batch) not in compiled_steps:
          config = _config(nodes, args.days, kind, batch, args.data_dir, args.quick)
          compiled_steps[kind, batch] = _compile(config, data, workdir)
        return compiled_steps[kind, batch]

      batch = args.batch or _largest_fitting_batch(compile_fn, limit)
      for kind in KINDS:
        run, compiled, compile_s = compile_fn(kind, batch)
        peak = bu.compiled_peak_bytes(compiled)
        record = {
            "nodes": nodes, "attention": kind, "batch": batch, "parameters": run.num_parameters,
            "compile_s": round(compile_s, 2), "peak_bytes": peak, "data_load_s": round(load_s, 2),
        }
        if peak > limit:
          record.update(step_s=None, samples_per_s=None, step_cpu_s=None)
        else:
          times, cpu_times = _measure(run, compiled, warmup=2, steps=steps, budget_s=args.budget_s)
          median = statistics.median(times)
          record.update(
              step_s=median, samples_per_s=batch / median, timed_steps=len(times),
              step_cpu_s=statistics.median(cpu_times),
          )
        records.append(record)
        print(f"  {nodes} nodes, {kind}: {record}", flush=True)

  rows = []
  for nodes in nodes_list:
    by_kind = {r["attention"]: r for r in records if r["nodes"] == nodes}
    softmax = by_kind["softmax"]
    for kind in KINDS:
      r = by_kind[kind]
      wall_ratio = cpu_ratio = "-"
      if kind == "eala" and softmax["step_s"] and r["step_s"]:
        wall_ratio = f"{softmax['step_s'] / r['step_s']:.2f}x"
        cpu_ratio = f"{softmax['step_cpu_s'] / r['step_cpu_s']:.2f}x"
      fits = r["step_s"] is not None
      rows.append([
          nodes, kind, r["batch"], f"{r['parameters']:,}",
          bu.format_seconds(r["step_s"]) if fits else "does not fit",
          f"{r['samples_per_s']:.2f}" if fits else "-", wall_ratio,
          bu.format_seconds(r["step_cpu_s"]) if fits else "-", cpu_ratio,
          bu.format_bytes(r["peak_bytes"]), f"{r['compile_s']:.1f} s",
      ])
  table = bu.markdown_table(
      ["nodes", "attention", "batch", "parameters", "step wall (median)", "samples/s",
       "EALA speed-up (wall)", "step CPU time (median)", "EALA speed-up (CPU)",
       "step peak memory (XLA)", "compile"],
      rows,
  )
  title = (
      f"Training throughput, ELinFormer {'tiny' if args.quick else 'STAEformer-size'},"
      f" synthetic traffic ({args.days} days), {machine}:"
  )
  print(f"\n{title}\n\n{table}")
  bu.write_results(args.out, "throughput", records, f"{title}\n\n{table}")


if __name__ == "__main__":
  main()
