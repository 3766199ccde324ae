"""Data-layer scale test: build + one training epoch of synthetic_traffic.

Measures, for the synthetic dataset at N nodes (default 10,000 nodes x 21
days of 5-minute steps), the wall time and the peak resident memory of

1. build: simulate the traffic day by day and write array_record files,
2. load: read the series back, cut the splits, fit the scaler,
3. epoch: iterate one shuffled training epoch of NumPy batches (batch 16),

and prints a Markdown table (also written as csv/json/md under --out). The
build runs in this process; load and epoch run in a fresh one, as a training
run would. Peak memory is per phase where Linux lets us reset the high-water
mark (/proc/self/clear_refs), else the process peak so far.

    python experiments/bench_data.py            # 10,000 nodes, 21 days
    python experiments/bench_data.py --quick    # 200 nodes, 7 days: seconds
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import _bench_utils as bu
from entropy_attention_jax import data


def _reset_peak() -> bool:
  """Resets the kernel's peak-RSS mark for this process; False if unsupported."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return True
  except OSError:
    return False


def _peak_mib() -> float:
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _directory_mib(path: pathlib.Path) -> float:
  return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _phase_timer():
  """Records `(seconds, peak RSS)` per phase, resetting the peak between phases."""
  per_phase = _reset_peak()
  rows = {"imports": {"seconds": 0.0, "peak_rss_mib": _peak_mib()}}

  def phase(name: str, start: float) -> None:
    rows[name] = {"seconds": time.perf_counter() - start, "peak_rss_mib": _peak_mib()}
    if per_phase:
      _reset_peak()

  return rows, phase, per_phase


def load_and_iterate(
    nodes: int, days: int, batch_size: int, seed: int, data_dir: pathlib.Path
) -> dict:
  """Loads the built dataset and iterates one shuffled training epoch."""
  rows, phase, per_phase = _phase_timer()
  start = time.perf_counter()
  forecasting = data.load_forecasting_data(
      "synthetic_traffic", data_dir, nodes=nodes, days=days, seed=seed,
      batch_size=batch_size, build_if_missing=False,
  )
  phase("load", start)
  start = time.perf_counter()
  num_batches = 0
  for batch in forecasting.train.batches(shuffle=True, seed=0, epoch=0, drop_remainder=True):
    num_batches += 1
    assert batch["x"].shape[0] == batch_size  # Touch the batch.
  phase("epoch", start)
  return {
      "phases": rows,
      "per_phase_peak": per_phase,
      "train_windows": len(forecasting.train),
      "train_batches": num_batches,
      "series_mib": forecasting.series.values.nbytes / 2**20,
      "batch_mib": (
          batch_size * forecasting.in_steps * nodes * forecasting.num_features
          + batch_size * forecasting.out_steps * nodes
      ) * 4 / 2**20,
  }


def run(nodes: int, days: int, batch_size: int, seed: int, data_dir: pathlib.Path) -> dict:
  """Builds in this process, then loads and iterates in a fresh one.

  A fresh process measures what a training run that loads a built dataset
  holds, without the memory the build freed but did not return to the OS.
  """
  rows, phase, per_phase = _phase_timer()
  start = time.perf_counter()
  info = data.build_dataset("synthetic_traffic", data_dir, nodes=nodes, days=days, seed=seed)
  phase("build", start)
  command = [
      sys.executable, __file__, "--load-only", "--data-dir", str(data_dir),
      "--nodes", str(nodes), "--days", str(days), "--batch-size", str(batch_size),
      "--seed", str(seed),
  ]
  child = subprocess.run(command, capture_output=True, text=True, check=True)
  loaded = json.loads(child.stdout.strip().splitlines()[-1])
  return {
      "nodes": nodes,
      "days": days,
      "steps": info.num_steps,
      "batch_size": batch_size,
      "disk_mib": _directory_mib(pathlib.Path(info.data_path)),
      "per_phase_peak": per_phase and loaded["per_phase_peak"],
      "build_process": rows,
      "train_process": loaded.pop("phases"),
      **loaded,
      "machine": bu.machine_description(),
  }


def table(result: dict) -> tuple[str, list[dict]]:
  """The Markdown table (with a header line) and one record per phase."""
  per = "per phase" if result["per_phase_peak"] else "process peak so far"
  epoch = result["train_process"]["epoch"]["seconds"]
  batches = result["train_batches"]
  notes = {
      "imports": "after importing the package (baseline)",
      "build": "simulate day by day + write array_record",
      "load": "read series + split + fit scaler",
      "epoch": f"{batches} train batches, {batches / epoch:.1f} batches/s,"
      f" {batches * result['batch_size'] / epoch:,.0f} samples/s",
  }
  setup = {k: v for k, v in result.items() if not k.endswith("_process")}
  records, rows = [], []
  for process in ("build_process", "train_process"):
    for name, row in result[process].items():
      label = process.split("_")[0]
      records.append({**setup, "process": label, "phase": name, **row})
      rows.append([label, name, f"{row['seconds']:.2f}", f"{row['peak_rss_mib']:.0f}", notes[name]])
  total = sum(record["seconds"] for record in records)
  rows.append(["both", "build + load + epoch", f"{total:.2f}", "", ""])
  header = (
      f"synthetic_traffic: {result['nodes']:,} nodes x {result['days']} days ="
      f" {result['steps']:,} steps; series {result['series_mib']:.0f} MiB in memory,"
      f" {result['disk_mib']:.0f} MiB on disk; batch {result['batch_size']} ="
      f" {result['batch_mib']:.1f} MiB; {result['machine']}"
  )
  markdown = bu.markdown_table(
      ["process", "phase", "time (s)", f"peak RSS (MiB, {per})", "notes"], rows
  )
  return header + "\n\n" + markdown, records


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--nodes", type=int, default=10_000)
  parser.add_argument("--days", type=int, default=21)
  parser.add_argument("--batch-size", type=int, default=16)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--quick", action="store_true", help="200 nodes x 7 days")
  parser.add_argument(
      "--data-dir", default=None, help="build here (default: a temporary directory, removed)"
  )
  parser.add_argument("--out", default="results/bench_data", help="folder for csv/json/md")
  parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.quick:
    args.nodes, args.days = 200, 7
  if args.load_only:  # The fresh child process of `run`: print JSON and stop.
    result = load_and_iterate(
        args.nodes, args.days, args.batch_size, args.seed, pathlib.Path(args.data_dir)
    )
    print(json.dumps(result))
    return

  temporary = args.data_dir is None
  data_dir = pathlib.Path(tempfile.mkdtemp(prefix="bench_data_") if temporary else args.data_dir)
  try:
    result = run(args.nodes, args.days, args.batch_size, args.seed, data_dir)
  finally:
    if temporary:
      shutil.rmtree(data_dir, ignore_errors=True)
  text, records = table(result)
  print(text)
  bu.write_results(args.out, "bench_data", records, text)


if __name__ == "__main__":
  main()
