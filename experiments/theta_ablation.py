"""What θ EALA picks, how often weights go negative, and what the nonneg bounds cost.

Gaussian queries and keys (head dim 32, L = 1024 by default). For each score
scale and estimator it reports the mean θ, the share of negative weights
without a clamp, and — with the ``anchored`` and ``centered`` non-negativity
bounds — the mean θ and the mean |H(w) − H(softmax)| of the resulting weights
(entropy of non-negative weights only). Supports docs/attention.md.

  python experiments/theta_ablation.py [--quick]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import _bench_utils as bu
from entropy_attention_jax.attention import eala_weights
from entropy_attention_jax.entropy import ESTIMATORS, softmax_entropy

SCALES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)


def entropy_of(weights: np.ndarray) -> np.ndarray:
  w = np.clip(weights, 1e-30, None)
  return -(weights * np.log(w)).sum(-1)


def measure(length, scales, queries, head_dim, seed):
  rows, records = [], []
  for scale in scales:
    q_key, k_key = jax.random.split(jax.random.key(seed))
    query = scale * jax.random.normal(q_key, (1, queries, 2, head_dim))
    key = jax.random.normal(k_key, (1, length, 2, head_dim))
    exact = np.swapaxes(np.asarray(softmax_entropy(query, key)), -1, -2)  # [1, heads, q]
    for name in sorted(ESTIMATORS):
      free, aux = eala_weights(query, key, estimator=name)
      record = dict(scale=scale, estimator=name, theta=float(aux.theta.mean()),
                    negative_share=float((np.asarray(free) < 0).mean()))
      for bound in ("anchored", "centered"):
        clamped, clamped_aux = eala_weights(query, key, estimator=name, nonneg=bound)
        record[f"{bound}_theta"] = float(clamped_aux.theta.mean())
        record[f"{bound}_entropy_gap"] = float(np.abs(entropy_of(np.asarray(clamped, np.float64)) - exact).mean())
      records.append(record)
      rows.append([
          scale, name, f"{record['theta']:.3f}", f"{record['negative_share']:.1%}",
          f"{record['anchored_theta']:.3f}", f"{record['anchored_entropy_gap']:.3f}",
          f"{record['centered_theta']:.3f}", f"{record['centered_entropy_gap']:.3f}",
      ])
  headers = ["scale", "estimator", "mean θ (no clamp)", "negative weights",
             "mean θ (anchored)", "|H(w) − H| (anchored)", "mean θ (centered)", "|H(w) − H| (centered)"]
  return bu.markdown_table(headers, rows), records


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--length", type=int, default=1024)
  parser.add_argument("--queries", type=int, default=128)
  parser.add_argument("--head-dim", type=int, default=32)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="results/theta_ablation")
  args = parser.parse_args(argv)
  scales = SCALES[::2] if args.quick else SCALES
  length = 256 if args.quick else args.length
  print(f"# θ and non-negativity — {bu.machine_description()}")
  print(f"Gaussian q, k; L={length}, head_dim {args.head_dim}, {args.queries} queries × 2 heads\n")
  table, records = measure(length, scales, args.queries, args.head_dim, args.seed)
  print(table)
  bu.write_results(args.out, "theta_ablation", records, table)


if __name__ == "__main__":
  main()
