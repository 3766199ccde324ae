"""Time and memory of every attention kind versus sequence length.

For each kind and length L (batch 1, 4 heads, head dim 32, float32) it reports
the median forward and forward+backward time and the peak memory of each
compiled program (XLA buffer assignment: arguments + outputs + temporaries), and
the ratios to softmax attention measured in the same run. A configuration whose
peak exceeds the available memory is compiled but not run, and reported as
"does not fit" with the memory it would need.

  python experiments/bench_attention.py            # L = 256 ... 65,536
  python experiments/bench_attention.py --quick    # L = 256, 1024, 4096
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp

import _bench_utils as bu
from entropy_attention_jax import attention

FULL_LENGTHS = (256, 1024, 4096, 8192, 16384, 32768, 65536)
QUICK_LENGTHS = (256, 1024, 4096)


def attention_fns(num_features: int) -> dict[str, callable]:
  features = attention.performer_features(jax.random.key(0), num_features, 32)
  return {
      "softmax": attention.softmax_attention,
      "eala": attention.eala_attention,
      "eala (gaussian_ensemble)": functools.partial(
          attention.eala_attention, estimator="gaussian_ensemble"
      ),
      "linear": attention.linear_attention,
      "performer": functools.partial(attention.performer_attention, features=features),
      "taylor": attention.taylor_attention,
  }


def programs(fn, shape):
  """Jitted forward and forward+backward (VJP of a sum) programs."""

  def forward(q, k, v):
    return fn(q, k, v)

  def forward_backward(q, k, v):
    return jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=(0, 1, 2))(q, k, v)

  spec = jax.ShapeDtypeStruct(shape, jnp.float32)
  return {
      name: jax.jit(f).lower(spec, spec, spec).compile()
      for name, f in (("fwd", forward), ("fwd+bwd", forward_backward))
  }


def measure(kind_fns, lengths, *, heads, head_dim, memory_limit, budget_s):
  records = []
  for length in lengths:
    shape = (1, length, heads, head_dim)
    keys = jax.random.split(jax.random.key(length), 3)
    q, k, v = (jax.random.normal(key, shape, jnp.float32) for key in keys)
    for kind, fn in kind_fns.items():
      record = {"kind": kind, "length": length}
      for mode, compiled in programs(fn, shape).items():
        peak = bu.compiled_peak_bytes(compiled)
        record[f"{mode}_peak_bytes"] = peak
        if peak > memory_limit:
          record[f"{mode}_seconds"] = None
          continue
        record[f"{mode}_seconds"] = bu.median_seconds(
            lambda: compiled(q, k, v), budget_s=budget_s
        )
      records.append(record)
      print(
          f"  L={length:>6} {kind:<25} fwd {_time(record, 'fwd'):>12}"
          f" fwd+bwd {_time(record, 'fwd+bwd'):>12}"
          f" peak {bu.format_bytes(record['fwd_peak_bytes']):>10}",
          flush=True,
      )
  return records


def _time(record, mode):
  seconds = record[f"{mode}_seconds"]
  if seconds is None:
    return f"does not fit (needs {bu.format_bytes(record[f'{mode}_peak_bytes'])})"
  return bu.format_seconds(seconds)


def _ratio(base, value):
  if base is None:
    return "softmax does not fit"
  if value is None:
    return "—"
  return f"{base / value:.1f}×"


def table(records):
  softmax = {r["length"]: r for r in records if r["kind"] == "softmax"}
  rows = []
  for r in records:
    base = softmax[r["length"]]
    rows.append([
        r["length"], r["kind"],
        _time(r, "fwd"), _time(r, "fwd+bwd"),
        bu.format_bytes(r["fwd_peak_bytes"]), bu.format_bytes(r["fwd+bwd_peak_bytes"]),
        _ratio(base["fwd_seconds"], r["fwd_seconds"]),
        _ratio(base["fwd+bwd_seconds"], r["fwd+bwd_seconds"]),
        f"{base['fwd_peak_bytes'] / r['fwd_peak_bytes']:.1f}×",
    ])
  headers = [
      "L", "kind", "fwd time", "fwd+bwd time", "fwd peak mem", "fwd+bwd peak mem",
      "fwd speed-up vs softmax", "fwd+bwd speed-up vs softmax", "fwd memory saving vs softmax",
  ]
  return bu.markdown_table(headers, rows)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="small lengths only")
  parser.add_argument("--lengths", type=int, nargs="*", help="override the lengths")
  parser.add_argument("--heads", type=int, default=4)
  parser.add_argument("--head-dim", type=int, default=32)
  parser.add_argument("--num-features", type=int, default=256, help="Performer features")
  parser.add_argument("--budget-s", type=float, default=2.0, help="timing budget per program")
  parser.add_argument(
      "--memory-limit-gib", type=float, default=None,
      help="run only programs whose peak fits (default: MemAvailable)",
  )
  parser.add_argument("--out", default="results/bench_attention", help="directory for CSV/JSON/MD")
  args = parser.parse_args(argv)

  lengths = args.lengths or (QUICK_LENGTHS if args.quick else FULL_LENGTHS)
  limit = (
      args.memory_limit_gib * 2**30 if args.memory_limit_gib else bu.available_memory_bytes() * 0.9
  )
  print(f"# Attention benchmark — {bu.machine_description()}")
  print(f"batch 1, heads {args.heads}, head_dim {args.head_dim}, float32;"
        f" memory limit {bu.format_bytes(limit)}\n", flush=True)
  records = measure(
      attention_fns(args.num_features), lengths, heads=args.heads, head_dim=args.head_dim,
      memory_limit=limit, budget_s=0.5 if args.quick else args.budget_s,
  )
  result = table(records)
  print("\n" + result)
  bu.write_results(args.out, "bench_attention", records, result)


if __name__ == "__main__":
  main()
