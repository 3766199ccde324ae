"""Time and memory of every attention kind versus sequence length, and decoding.

For each kind and length L (batch 1, 4 heads, head dim 32, float32) it reports
the median forward and forward+backward time and the peak memory of each
compiled program (XLA buffer assignment: arguments + outputs + temporaries), and
the ratios to softmax attention measured in the same run (causal kinds against
causal softmax). A configuration whose peak exceeds the available memory is
compiled but not run, and reported as "does not fit" with the memory it would
need; one that fits the machine but exceeds the run limit (a share of the
free memory, because XLA's runtime needs more than its buffer assignment) is
reported as not run. A second table gives decoding throughput: one causal EALA step from its
recurrent state versus softmax attention of the new query over the whole
prefix (a KV cache), at several positions.

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


def attention_fns(num_features: int, head_dim: int, causal: bool) -> dict[str, callable]:
  features = attention.performer_features(jax.random.key(0), num_features, head_dim)
  fns = {
      "softmax": attention.softmax_attention,
      "eala": attention.eala_attention,
      "eala (gaussian_ensemble)": functools.partial(
          attention.eala_attention, estimator="gaussian_ensemble"
      ),
      "linear": attention.linear_attention,
      "performer": functools.partial(attention.performer_attention, features=features),
      "taylor": attention.taylor_attention,
  }
  if causal:
    for kind in ("softmax", "eala", "linear", "taylor"):
      fns[f"{kind} (causal)"] = functools.partial(fns[kind], causal=True)
  return fns


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


def measure(kind_fns, lengths, *, heads, head_dim, memory_limit, run_limit, budget_s):
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
        record[f"{mode}_fits"] = peak <= memory_limit
        if peak > run_limit:
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
  needs = bu.format_bytes(record[f"{mode}_peak_bytes"])
  if seconds is None and not record[f"{mode}_fits"]:
    return f"does not fit (needs {needs})"
  if seconds is None:
    return f"not run (needs {needs}, over the run limit)"
  return bu.format_seconds(seconds)


def _ratio(base, value):
  if base is None:
    return "softmax does not fit"
  if value is None:
    return "—"
  return f"{base / value:.1f}×"


def table(records):
  baseline = {
      (r["length"], r["kind"].endswith("(causal)")): r
      for r in records if r["kind"] in ("softmax", "softmax (causal)")
  }
  rows = []
  for r in records:
    base = baseline[r["length"], r["kind"].endswith("(causal)")]
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


def summary(records):
  """The issue's targets, as ratios from this run."""
  by_key = {(r["kind"], r["length"]): r for r in records}
  lines = []
  for length in sorted({r["length"] for r in records}):
    get = lambda kind: by_key.get((kind, length), {}).get("fwd_seconds")
    eala, softmax, linear = get("eala"), get("softmax"), get("linear")
    causal, causal_softmax = get("eala (causal)"), get("softmax (causal)")
    parts = [f"L={length}:"]
    if eala and softmax:
      parts.append(f"EALA fwd {softmax / eala:.0f}× faster than softmax;")
    if eala and linear:
      parts.append(f"EALA/linear fwd time {eala / linear:.2f};")
    if eala and causal:
      parts.append(f"causal/non-causal EALA fwd time {causal / eala:.2f};")
    if causal and causal_softmax:
      parts.append(f"causal EALA {causal_softmax / causal:.0f}× faster than causal softmax")
    lines.append(" ".join(parts))
  eala_mem = [(r["length"], r["fwd_peak_bytes"]) for r in records if r["kind"] == "eala"]
  if len(eala_mem) > 1:
    (l0, m0), (l1, m1) = eala_mem[0], eala_mem[-1]
    lines.append(
        f"EALA fwd peak memory grows {m1 / m0:.1f}× for {l1 / l0:.0f}× the length"
        f" ({bu.format_bytes(m0)} at L={l0} → {bu.format_bytes(m1)} at L={l1})"
    )
  return "\n".join(lines)


def decode_benchmark(positions, *, heads, head_dim, budget_s):
  """Seconds per decoding step at each position: EALA state vs softmax over the prefix."""
  rows, records = [], []
  step = jax.jit(functools.partial(attention.eala_step, output_final_state=True))
  softmax = jax.jit(attention.softmax_attention)
  for position in positions:
    keys = jax.random.split(jax.random.key(position), 4)
    q, k, v = (jax.random.normal(key, (1, heads, head_dim)) for key in keys[:3])
    # A state that has absorbed `position` keys (its size does not depend on it).
    prefix = jax.random.normal(keys[3], (3, 1, position, heads, head_dim))
    chunked = jax.jit(functools.partial(attention.chunk_eala, output_final_state=True))
    state = chunked(prefix[0], prefix[1], prefix[2]).final_state
    eala_s = bu.median_seconds(lambda: step(q, k, v, initial_state=state), budget_s=budget_s)
    cache_k = jnp.concatenate([prefix[1], k[:, None]], 1)
    cache_v = jnp.concatenate([prefix[2], v[:, None]], 1)
    softmax_s = bu.median_seconds(lambda: softmax(q[:, None], cache_k, cache_v), budget_s=budget_s)
    records.append(dict(position=position, eala_step_seconds=eala_s, softmax_step_seconds=softmax_s))
    rows.append([position, f"{1 / eala_s:,.0f}", f"{1 / softmax_s:,.0f}", f"{softmax_s / eala_s:.1f}×",
                 bu.format_bytes(sum(x.nbytes for x in jax.tree.leaves(state))),
                 bu.format_bytes(cache_k.nbytes + cache_v.nbytes)])
  headers = ["position", "EALA steps/s (recurrent state)", "softmax steps/s (KV cache)",
             "EALA speed-up", "EALA state size", "softmax KV cache size"]
  return bu.markdown_table(headers, rows), records


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
      help="memory a program must fit to be possible (default: physical memory)",
  )
  parser.add_argument(
      "--run-fraction", type=float, default=0.5,
      help="run only programs whose peak is below this share of the free memory",
  )
  parser.add_argument("--no-causal", action="store_true", help="skip the causal rows")
  parser.add_argument("--decode-positions", type=int, nargs="*", default=None,
                      help="positions for the decoding table (default 1024 8192 65536)")
  parser.add_argument("--out", default="results/bench_attention", help="directory for CSV/JSON/MD")
  args = parser.parse_args(argv)

  lengths = args.lengths or (QUICK_LENGTHS if args.quick else FULL_LENGTHS)
  limit = args.memory_limit_gib * 2**30 if args.memory_limit_gib else bu.physical_memory_bytes()
  run_limit = min(limit, bu.available_memory_bytes() * args.run_fraction)
  print(f"# Attention benchmark — {bu.machine_description()}")
  print(f"batch 1, heads {args.heads}, head_dim {args.head_dim}, float32;"
        f" fits: {bu.format_bytes(limit)}; run limit {bu.format_bytes(run_limit)}\n", flush=True)
  budget_s = 0.5 if args.quick else args.budget_s
  records = measure(
      attention_fns(args.num_features, args.head_dim, causal=not args.no_causal), lengths,
      heads=args.heads, head_dim=args.head_dim, memory_limit=limit, run_limit=run_limit,
      budget_s=budget_s,
  )
  result = table(records) + "\n\n" + summary(records)
  print("\n" + result)
  bu.write_results(args.out, "bench_attention", records, result)

  positions = args.decode_positions or ((256, 2048) if args.quick else (1024, 8192, 65536))
  decode_table, decode_records = decode_benchmark(
      positions, heads=args.heads, head_dim=args.head_dim, budget_s=budget_s
  )
  print("\n## Decoding one token (batch 1)\n\n" + decode_table)
  bu.write_results(args.out, "bench_decode", decode_records, decode_table)


if __name__ == "__main__":
  main()
