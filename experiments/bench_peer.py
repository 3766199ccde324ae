"""ELinFormer (softmax, EALA) against STAEformer's released PyTorch model, on this CPU.

Same shapes and parameter counts (asserted): the ELinFormer of the ``pems08``
preset (STAEformer's PEMS08 `model_args`: 12 -> 12 steps, input_dim 3, 24-wide
input/time-of-day/day-of-week embeddings, an 80-wide adaptive embedding, 256
feed-forward, 4 heads, 3 + 3 layers, dropout 0.1) at N nodes, and STAEformer's
`model/STAEformer.py` built with the same arguments, from a checkout the user
points to (`--staeformer-dir`; nothing of it is in this repository).

Each (configuration, implementation) runs in its own worker process, the
implementations interleaved over `--rounds` rounds (rotating the order), so
drift in the machine's load hits all alike. A worker measures

* the first training step (for JAX: lowering and compiling, then running it),
* `--steps` training steps: batch to device, forward, Huber loss on the
  original scale, backward, Adam with L2 weight decay (the optimiser update
  included), dropout on, and the loss fetched to the host. PyTorch: STAEformer's
  own loop body (model/train.py); JAX: the library's `make_optimizer`,
  `make_train_step` and `jit_train_step` (jitted, state donated);
* `--steps` inference steps (dropout off, predictions fetched to the host);
* its peak resident memory (`ru_maxrss`).

Times are medians over all timed steps of all rounds, wall and process CPU time
(all threads; steadier than wall time on a shared machine); ratios are ELinFormer
/ PyTorch from the same run. PyTorch runs with 2 threads and
OMP_WAIT_POLICY=PASSIVE.

  python experiments/bench_peer.py --staeformer-dir /tmp/staeformer            # 170/16, 883/4, 2000/1
  python experiments/bench_peer.py --staeformer-dir /tmp/staeformer --configs 170x16
  python experiments/bench_peer.py --quick     # the "tiny" model at 20 nodes (seconds)

Get the peer with `git clone https://github.com/XDZhelheim/STAEformer /tmp/staeformer`
(only `model/STAEformer.py` is read; its unused `torchinfo` import is stubbed
when torchinfo is not installed). `torch` is the `peer` extra
(`pip install -e '.[peer]'`). Without torch or `--staeformer-dir` the peer is
skipped with one line saying so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time
import types

FULL_CONFIGS = ("170x16", "883x4", "2000x1")
QUICK_CONFIGS = ("20x2",)
IMPLS = ("pytorch", "softmax", "eala")
# EALA without the CLI's huge-page malloc setting (entropy_attention_jax/cli/_malloc.py).
SMALL_PAGES = "eala-4k-pages"
# Target scale of the synthetic targets (PEMS08 flow is ~230 +- 150 vehicles / 5 min).
MEAN, STD = 230.0, 150.0


# --------------------------------------------------------------------------- workers


def _model_config(nodes: int, kind: str, quick: bool):
  """The ELinFormer config of the pems08 preset (the "tiny" overlay with --quick)."""
  from entropy_attention_jax.models import ELinFormerConfig
  from entropy_attention_jax.training import get_config

  config = get_config(
      "pems08", overlays=["tiny"] if quick else [],
      overrides=[f"model.temporal_attention={kind}", f"model.spatial_attention={kind}"],
  )
  model = ELinFormerConfig(
      num_nodes=nodes, in_steps=12, out_steps=12, steps_per_day=288, **config.model
  )
  return config, model


def staeformer_arguments(model) -> dict:
  """STAEformer's constructor arguments for an ELinFormerConfig (raises if it has no twin)."""
  if model.num_temporal_layers != model.num_spatial_layers:
    raise ValueError("STAEformer has as many temporal as spatial layers.")
  for name, expected in (("moy_embedding_dim", 0), ("future_dim", 0),
                         ("window_normalization", "none"), ("use_mixed_proj", True)):
    if getattr(model, name) != expected:
      raise ValueError(f"STAEformer has no {name}={getattr(model, name)!r}.")
  return dict(
      num_nodes=model.num_nodes, in_steps=model.in_steps, out_steps=model.out_steps,
      steps_per_day=model.steps_per_day, input_dim=model.input_dim,
      output_dim=model.output_dim, input_embedding_dim=model.input_embedding_dim,
      tod_embedding_dim=model.tod_embedding_dim, dow_embedding_dim=model.dow_embedding_dim,
      spatial_embedding_dim=model.spatial_embedding_dim,
      adaptive_embedding_dim=model.adaptive_embedding_dim,
      feed_forward_dim=model.feed_forward_dim, num_heads=model.num_heads,
      num_layers=model.num_temporal_layers, dropout=model.dropout_rate, use_mixed_proj=True,
  )


def _batches(nodes: int, batch: int, count: int, seed: int = 0):
  """`count` host batches: x [b, 12, n, 3] (z-scored signal, time of day, day of week), y."""
  import numpy as np

  rng = np.random.default_rng(seed)
  shape = (batch, 12, nodes)
  out = []
  for _ in range(count):
    x = np.stack([rng.standard_normal(shape), rng.integers(0, 288, shape) / 288,
                  rng.integers(0, 7, shape)], axis=-1).astype(np.float32)
    y = (MEAN + STD * rng.standard_normal((batch, 12, nodes, 1))).astype(np.float32)
    out.append({"x": x, "y": np.abs(y)})
  return out


class _Timer:
  """Wall, process CPU and system CPU time of a block."""

  def __enter__(self):
    self.wall, self.cpu = time.perf_counter(), time.process_time()
    self.sys = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    return self

  def __exit__(self, *_):
    self.wall = time.perf_counter() - self.wall
    self.cpu = time.process_time() - self.cpu
    self.sys = resource.getrusage(resource.RUSAGE_SELF).ru_stime - self.sys


def _timed(fn, batches) -> dict[str, list[float]]:
  times = {"wall": [], "cpu": [], "sys": []}
  for batch in batches:
    with _Timer() as t:
      fn(batch)
    for k in times:
      times[k].append(getattr(t, k))
  return times


def _load_staeformer(directory: str):
  path = pathlib.Path(directory) / "model" / "STAEformer.py"
  if not path.is_file():
    raise FileNotFoundError(f"--staeformer-dir: {path} does not exist.")
  if importlib.util.find_spec("torchinfo") is None:
    # STAEformer.py imports torchinfo.summary for its __main__ demo only.
    stub = types.ModuleType("torchinfo")
    stub.summary = lambda *a, **k: None
    sys.modules["torchinfo"] = stub
  spec = importlib.util.spec_from_file_location("staeformer_peer", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.STAEformer


def worker_pytorch(job: dict) -> dict:
  import torch

  torch.set_num_threads(job["threads"])
  torch.manual_seed(0)
  config, model_config = _model_config(job["nodes"], "softmax", job["quick"])
  arguments = staeformer_arguments(model_config)
  model = _load_staeformer(job["staeformer_dir"])(**arguments)
  optimizer = torch.optim.Adam(
      model.parameters(), lr=config.optim.learning_rate,
      weight_decay=config.optim.weight_decay, eps=config.optim.eps,
  )
  criterion = torch.nn.HuberLoss()
  batches = _batches(job["nodes"], job["batch"], job["steps"] + 1)

  def train_step(batch):  # STAEformer's train_one_epoch body (model/train.py).
    model.train()
    x, y = torch.from_numpy(batch["x"]), torch.from_numpy(batch["y"])
    out = model(x) * STD + MEAN  # SCALER.inverse_transform
    loss = criterion(out, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()

  @torch.no_grad()
  def predict(batch):  # eval_model / predict
    model.eval()
    return (model(torch.from_numpy(batch["x"])) * STD + MEAN).numpy()

  with _Timer() as first:
    train_step(batches[0])
  train = _timed(train_step, batches[1:])
  predict(batches[0])
  infer = _timed(predict, batches[1:])
  return {
      "parameters": sum(p.numel() for p in model.parameters()),
      "compile_wall": None, "compile_cpu": None,
      "first_wall": first.wall, "first_cpu": first.cpu, "train": train, "infer": infer,
      "arguments": arguments, "versions": f"torch {torch.__version__}",
  }


def worker_jax(job: dict) -> dict:
  import jax
  import numpy as np

  from entropy_attention_jax.data.scaler import StandardScaler
  from entropy_attention_jax.models import parameter_count
  from entropy_attention_jax.training import sharding, steps
  from entropy_attention_jax.training.optim import make_optimizer
  from entropy_attention_jax.training.state import init_train_state

  config, model_config = _model_config(job["nodes"], job["impl"].split("-")[0], job["quick"])
  optimizer = make_optimizer(config.optim, steps_per_epoch=1000)
  model_def, state = init_train_state(model_config, optimizer, seed=0)
  params = parameter_count(model_def.merge(state.params, state.fixed))
  scaler = StandardScaler(mean=np.array([MEAN]), std=np.array([STD]))
  mesh = sharding.data_mesh()
  state = sharding.replicate(state, mesh)
  train_step = steps.jit_train_step(
      steps.make_train_step(model_def, optimizer, scaler, loss=config.train.loss,
                            huber_delta=config.train.huber_delta,
                            mask_zeros=config.train.mask_zeros),
      mesh,
  )
  predict_step = steps.jit_eval_step(
      steps.make_predict_step(model_def, scaler), mesh, split_output=True
  )
  batches = _batches(job["nodes"], job["batch"], job["steps"] + 1)

  def device(batch):
    return sharding.shard_batch(sharding.pad_batch(batch, job["batch"]), mesh)

  with _Timer() as first:
    with _Timer() as compile_time:
      compiled = train_step.lower(state, device(batches[0])).compile()
    state, measurements = compiled(state, device(batches[0]))
    float(measurements["loss"])

  def run_train(batch):
    nonlocal state
    state, measurements = compiled(state, device(batch))
    return float(measurements["loss"])

  train = _timed(run_train, batches[1:])
  predict = lambda batch: np.asarray(predict_step(state.params, state.fixed, device(batch)))
  predict(batches[0])
  infer = _timed(predict, batches[1:])
  return {
      "parameters": params, "compile_wall": compile_time.wall, "compile_cpu": compile_time.cpu,
      "first_wall": first.wall, "first_cpu": first.cpu, "train": train, "infer": infer,
      "versions": f"jax {jax.__version__}",
  }


def run_worker(job: dict) -> None:
  result = (worker_pytorch if job["impl"] == "pytorch" else worker_jax)(job)
  result["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- driver


def _spawn(job: dict, timeout_s: float) -> dict:
  from entropy_attention_jax.cli._malloc import OPT_OUT, huge_page_environment

  env = dict(os.environ)
  if job["impl"] == "pytorch":
    env.update(OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(job["threads"]))
  elif job["impl"] == SMALL_PAGES or job["no_huge_pages"]:
    env[OPT_OUT] = "1"
  else:  # What `python -m entropy_attention_jax train` runs with.
    env = huge_page_environment(env) or env
  here = pathlib.Path(__file__).resolve()
  env["PYTHONPATH"] = os.pathsep.join(
      [str(here.parent.parent), str(here.parent), env.get("PYTHONPATH", "")]
  )
  proc = subprocess.run(
      [sys.executable, str(here), "--worker", json.dumps(job)], env=env, capture_output=True,
      text=True, timeout=timeout_s,
  )
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
  if proc.returncode or not lines:
    raise RuntimeError(f"worker {job['impl']} {job['nodes']}x{job['batch']} failed"
                       f" (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
  return json.loads(lines[-1][len("RESULT "):])


def peer_unavailable(staeformer_dir: str | None) -> str | None:
  """Why the PyTorch peer cannot run here, or None."""
  if importlib.util.find_spec("torch") is None:
    return "torch is not installed (pip install -e '.[peer]')"
  if not staeformer_dir:
    return "no --staeformer-dir given"
  if not (pathlib.Path(staeformer_dir) / "model" / "STAEformer.py").is_file():
    return f"{staeformer_dir}/model/STAEformer.py does not exist"
  return None


def _median(results: list[dict], part: str, key: str) -> float:
  return statistics.median(v for r in results for v in r[part][key])


def summarize(config: str, impl: str, results: list[dict]) -> dict:
  record = {"config": config, "impl": impl, "parameters": results[0]["parameters"],
            "steps": sum(len(r["train"]["wall"]) for r in results), "rounds": len(results)}
  for part in ("train", "infer"):
    for key in ("wall", "cpu", "sys"):
      record[f"{part}_{key}_s"] = _median(results, part, key)
  for key in ("compile_wall", "compile_cpu", "first_wall", "first_cpu"):
    values = [r[key] for r in results if r[key] is not None]
    record[f"{key}_s"] = statistics.median(values) if values else None
  record["peak_rss_bytes"] = max(r["peak_rss"] for r in results)
  record["versions"] = results[0]["versions"]
  return record


def tables(records: list[dict]) -> str:
  import _bench_utils as bu

  def ratio(record, key):
    ref = next((r for r in records if r["config"] == record["config"]
                and r["impl"] == "pytorch"), None)
    if ref is None or record["impl"] == "pytorch":
      return ""
    return f" ({record[key] / ref[key]:.2f}×)"

  fmt = lambda s: "—" if s is None else f"{s:.3f} s"
  rows = []
  for r in records:
    nodes, batch = r["config"].split("x")
    name = "STAEformer PyTorch" if r["impl"] == "pytorch" else f"ELinFormer {r['impl']}"
    if r["impl"] == SMALL_PAGES:
      name = "ELinFormer eala, 4 KiB pages"
    rows.append([
        nodes, batch, name, f"{r['parameters']:,}",
        fmt(r["train_cpu_s"]) + ratio(r, "train_cpu_s"),
        fmt(r["train_wall_s"]) + ratio(r, "train_wall_s"), fmt(r["train_sys_s"]),
        fmt(r["infer_cpu_s"]) + ratio(r, "infer_cpu_s"),
        fmt(r["infer_wall_s"]) + ratio(r, "infer_wall_s"),
        f"{fmt(r['first_cpu_s'])} / {fmt(r['first_wall_s'])}",
        "—" if r["compile_cpu_s"] is None else f"{fmt(r['compile_cpu_s'])} / {fmt(r['compile_wall_s'])}",
        bu.format_bytes(r["peak_rss_bytes"]), f"{r['steps']} ({r['rounds']})",
    ])
  return bu.markdown_table(
      ["nodes", "batch", "model", "parameters", "train step CPU", "train step wall",
       "train step sys", "inference CPU", "inference wall", "first step CPU / wall",
       "compile CPU / wall", "peak RSS", "steps (rounds)"], rows,
  )


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--worker", help=argparse.SUPPRESS)
  parser.add_argument("--quick", action="store_true",
                      help="the tiny model at 20 nodes, batch 2, one round (seconds)")
  parser.add_argument("--staeformer-dir", help="a checkout of XDZhelheim/STAEformer")
  parser.add_argument("--configs", nargs="*", help="NODESxBATCH, e.g. 170x16 883x4")
  parser.add_argument("--impls", nargs="*", choices=(*IMPLS, SMALL_PAGES), default=None,
                      help=f"default: all three (--quick: pytorch, eala); {SMALL_PAGES}: EALA without the CLI's huge-page malloc setting")
  parser.add_argument("--no-huge-pages", action="store_true",
                      help="JAX workers without the CLI's huge-page malloc setting")
  parser.add_argument("--rounds", type=int, help="interleaved rounds (default 2, quick 1)")
  parser.add_argument("--steps", type=int, help="timed steps per worker (default 3, quick 2)")
  parser.add_argument("--threads", type=int, default=2, help="PyTorch's intra-op threads")
  parser.add_argument("--timeout-s", type=float, default=1800.0, help="per worker")
  parser.add_argument("--out", default="results/bench_peer", help="directory for CSV/JSON/MD")
  args = parser.parse_args(argv)
  if args.worker:
    run_worker(json.loads(args.worker))
    return

  import _bench_utils as bu

  configs = args.configs or (QUICK_CONFIGS if args.quick else FULL_CONFIGS)
  rounds = args.rounds or (1 if args.quick else 2)
  steps = args.steps or (2 if args.quick else 3)
  # --quick: one JAX program to compile (seconds), softmax only when asked for.
  impls = list(args.impls or (("pytorch", "eala") if args.quick else IMPLS))
  if "pytorch" in impls and (why := peer_unavailable(args.staeformer_dir)):
    print(f"STAEformer PyTorch peer skipped: {why}.", flush=True)
    impls.remove("pytorch")
  print(f"# ELinFormer vs STAEformer (PyTorch) — {bu.machine_description()}\n"
        f"load average before: {os.getloadavg()[0]:.2f}\n", flush=True)
  records = []
  for config in configs:
    nodes, batch = (int(v) for v in config.split("x"))
    results = {impl: [] for impl in impls}
    for round_ in range(rounds):
      order = impls[round_ % len(impls):] + impls[: round_ % len(impls)]
      for impl in order:
        job = dict(impl=impl, nodes=nodes, batch=batch, steps=steps, quick=args.quick,
                   threads=args.threads, staeformer_dir=args.staeformer_dir,
                   no_huge_pages=args.no_huge_pages)
        result = _spawn(job, args.timeout_s)
        results[impl].append(result)
        print(f"  {config} {impl} round {round_ + 1}: train CPU"
              f" {statistics.median(result['train']['cpu']):.3f} s, inference CPU"
              f" {statistics.median(result['infer']['cpu']):.3f} s", flush=True)
    counts = {impl: results[impl][0]["parameters"] for impl in impls}
    if len(set(counts.values())) != 1:
      raise AssertionError(f"{config}: parameter counts differ: {counts}")
    records += [summarize(config, impl, results[impl]) for impl in impls]
  table = tables(records) + (
      "\n\nMedians over the timed steps of all rounds (each round a fresh worker process per"
      " model, the order rotated). Train step: batch to device, forward, Huber loss,"
      " backward, Adam update, loss to host; dropout on. CPU: the process's CPU time (all"
      " threads), sys: its system part; (×): ELinFormer / PyTorch in the same run. First"
      " step includes JAX's compile; peak RSS of the worker process. JAX workers run with"
      " glibc.malloc.hugetlb=1 as the CLI does (except \"4 KiB pages\" / --no-huge-pages)."
      f" {', '.join(sorted({r['versions'] for r in records}))}."
      f" Load average after: {os.getloadavg()[0]:.2f}."
  )
  print("\n" + table, flush=True)
  bu.write_results(args.out, "bench_peer", records, table)


if __name__ == "__main__":
  main()
