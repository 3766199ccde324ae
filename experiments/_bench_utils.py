"""Helpers shared by the benchmark scripts: timing, XLA memory, tables, output files."""

from __future__ import annotations

import csv
import json
import os
import statistics
import time
from typing import Any, Callable, Sequence

import jax


def available_memory_bytes() -> int:
  """MemAvailable from /proc/meminfo (the memory a new buffer can use)."""
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def physical_memory_bytes() -> int:
  """Total physical memory of the machine."""
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def compiled_peak_bytes(compiled: Any) -> int:
  """Peak device memory of a compiled XLA program, from its buffer assignment.

  Arguments + outputs + temporaries (minus donated aliases): what must be live
  at once to run it. Deterministic, and known before running.
  """
  stats = compiled.memory_analysis()
  return int(
      stats.argument_size_in_bytes + stats.output_size_in_bytes
      + stats.temp_size_in_bytes - stats.alias_size_in_bytes
  )


def median_seconds(fn: Callable[[], Any], *, min_repeats: int = 3, budget_s: float = 2.0) -> float:
  """Median wall time of `fn()` (which must block), after one warm-up call."""
  jax.block_until_ready(fn())
  times: list[float] = []
  start = time.perf_counter()
  while len(times) < min_repeats or (time.perf_counter() - start < budget_s and len(times) < 50):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def format_bytes(n: float) -> str:
  for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
    if abs(n) < 1024 or unit == "TiB":
      return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
    n /= 1024
  raise AssertionError


def format_seconds(s: float) -> str:
  return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def write_results(out_dir: str | None, name: str, records: list[dict[str, Any]], table: str) -> None:
  """Writes `name.csv`, `name.json` and `name.md` under `out_dir` (if given)."""
  if not out_dir:
    return
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
    json.dump(records, f, indent=1)
  with open(os.path.join(out_dir, f"{name}.md"), "w") as f:
    f.write(table + "\n")
  if records:
    fields = sorted({k for r in records for k in r})
    with open(os.path.join(out_dir, f"{name}.csv"), "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=fields)
      writer.writeheader()
      writer.writerows(records)


def machine_description() -> str:
  import platform

  return (
      f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs,"
      f" {format_bytes(available_memory_bytes())} available, jax {jax.__version__}"
      f" on {jax.devices()[0].platform}"
  )
