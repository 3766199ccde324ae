"""Accuracy of every entropy estimator against the exact softmax entropy.

Gaussian queries and keys (head dim 32); the queries are multiplied by a score
scale c, so each query's score spread is σ ≈ c. For each length L and scale it
prints the mean and max absolute error (nats) of every estimator, and whether
the cell is in the peaked regime (mean σ² > log L). It then checks the targets:
cumulant2 mean error < 0.1 where σ² ≤ log L; gaussian_ensemble at most half of
cumulant2's where σ² > log L, and never worse than it by more than 0.01 nats.

  python experiments/bench_entropy.py           # L ∈ {128, 1024, 8192}
  python experiments/bench_entropy.py --quick
  python experiments/bench_entropy.py --keys exponential --lengths 1024   # skewed keys
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import _bench_utils as bu
from entropy_attention_jax.entropy import ESTIMATORS, approx_entropy, softmax_entropy

SCALES = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0)


def sample(seed, length, scale, *, queries, heads, head_dim, keys="gaussian"):
  q_key, k_key = jax.random.split(jax.random.key(seed))
  query = scale * jax.random.normal(q_key, (1, queries, heads, head_dim))
  if keys == "gaussian":
    key = jax.random.normal(k_key, (1, length, heads, head_dim))
  else:  # skewed: centred unit exponentials
    key = jax.random.exponential(k_key, (1, length, heads, head_dim)) - 1.0
  return query, key


def measure(lengths, scales, *, queries, heads, head_dim, seed, keys="gaussian"):
  estimate = jax.jit(approx_entropy, static_argnames="estimator")
  exact_fn = jax.jit(softmax_entropy)
  records = []
  for length in lengths:
    for scale in scales:
      query, key = sample(seed + length, length, scale, queries=queries, heads=heads,
                          head_dim=head_dim, keys=keys)
      exact = np.asarray(exact_fn(query, key))
      centred = key - key.mean(-3, keepdims=True)
      # σ² of each query's scores, for the regime label (the estimators compute it too).
      scores = jnp.einsum("bqhd,bkhd->bqhk", query, centred) / np.sqrt(head_dim)
      variance = float(jnp.mean(jnp.mean(scores**2, -1)))
      record = dict(length=length, scale=scale, variance=variance,
                    peaked=bool(variance > np.log(length)), exact_mean=float(exact.mean()))
      for name in ESTIMATORS:
        error = np.abs(np.asarray(estimate(query, key, estimator=name)) - exact)
        record[f"{name}_mean"] = float(error.mean())
        record[f"{name}_max"] = float(error.max())
      records.append(record)
  return records


def table(records):
  names = sorted(ESTIMATORS)
  headers = ["L", "scale", "mean σ²", "log L", "regime", "mean H"] + [
      f"{n} mean / max" for n in names
  ]
  rows = [
      [r["length"], r["scale"], f"{r['variance']:.2f}", f"{np.log(r['length']):.2f}",
       "peaked" if r["peaked"] else "moderate", f"{r['exact_mean']:.3f}"]
      + [f"{r[f'{n}_mean']:.3f} / {r[f'{n}_max']:.3f}" for n in names]
      for r in records
  ]
  return bu.markdown_table(headers, rows)


def check_targets(records):
  lines = []
  for r in records:
    cell = f"L={r['length']}, scale={r['scale']}"
    c2, ens = r["cumulant2_mean"], r["gaussian_ensemble_mean"]
    if not r["peaked"]:
      lines.append(("PASS" if c2 < 0.1 else "MISS") + f"  cumulant2 {c2:.3f} < 0.1 ({cell})")
      lines.append(("PASS" if ens <= c2 + 0.01 else "MISS") + f"  ensemble {ens:.3f} <= cumulant2 {c2:.3f} + 0.01 ({cell})")
    else:
      lines.append(("PASS" if ens <= 0.5 * c2 else "MISS") + f"  ensemble {ens:.3f} <= cumulant2/2 {c2 / 2:.3f} ({cell}, peaked)")
  return lines


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--lengths", type=int, nargs="*", default=None)
  parser.add_argument("--queries", type=int, default=256)
  parser.add_argument("--heads", type=int, default=4)
  parser.add_argument("--head-dim", type=int, default=32)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--keys", choices=("gaussian", "exponential"), default="gaussian",
                      help="key distribution (exponential: skewed keys, where cumulant3 helps)")
  parser.add_argument("--out", default="results/bench_entropy")
  args = parser.parse_args(argv)
  lengths = args.lengths or ((128, 1024) if args.quick else (128, 1024, 8192))
  scales = SCALES[::3] if args.quick else SCALES
  print(f"# Entropy estimator accuracy — {bu.machine_description()}")
  print(f"Gaussian queries, {args.keys} keys; head_dim {args.head_dim}; {args.queries} queries ×"
        f" {args.heads} heads per cell; errors in nats\n")
  records = measure(lengths, scales, queries=args.queries, heads=args.heads,
                    head_dim=args.head_dim, seed=args.seed, keys=args.keys)
  result = table(records)
  print(result)
  print("\nTargets:")
  verdicts = check_targets(records)
  print("\n".join(verdicts))
  print(f"\n{sum(v.startswith('PASS') for v in verdicts)}/{len(verdicts)} target checks pass")
  name = "bench_entropy" if args.keys == "gaussian" else f"bench_entropy_{args.keys}"
  bu.write_results(args.out, name, records, result + "\n\n" + "\n".join(verdicts))


if __name__ == "__main__":
  main()
