"""θ solves against the exact entropy of the weights they produce (Gaussian scores).

For L keys with i.i.d. Gaussian scores of sample spread exactly σ (head_dim 1,
scale 1), EALA's weights `(1 + θ d_j)/L` are formed explicitly (`eala_weights`)
and their exact entropy compared with the exact softmax entropy of the same
scores, on the rows whose weights are all ≥ 0 (elsewhere the entropy is not
defined). Per (L, σ): share of such rows, mean t = θσ, and mean / max
|H(w) − H_softmax| for each estimator × θ solve. Seconds on a CPU.

  python experiments/theta_solve_entropy.py [--out DIR] [--draws 2000]
  python experiments/theta_solve_entropy.py --quick    # 100 draws, L = 16 only (CI)
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np

import _bench_utils as bu
from entropy_attention_jax.attention import eala_weights
from entropy_attention_jax.entropy import softmax_entropy

LENGTHS = (16, 64, 256)
SIGMAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
VARIANTS = (
    ("cumulant2", "second_order"), ("cumulant2", "fourth_order"),
    ("cumulant3", "second_order"), ("cumulant3", "fourth_order"),
    ("gaussian_ensemble", "second_order"), ("gaussian_ensemble", "fourth_order"),
)


def gaussian_scores(seed, length, sigma, draws):
  rng = np.random.default_rng(seed)
  key = rng.standard_normal((draws, length, 1, 1))
  query = sigma / key.std(axis=1, keepdims=True)[:, :1]
  return jnp.asarray(query, jnp.float32), jnp.asarray(key, jnp.float32)


def entropy(w):
  return -np.sum(np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0), -1)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--draws", type=int, default=None, help="draws per cell (2000; 100 quick)")
  parser.add_argument("--quick", action="store_true", help="100 draws, L = 16 only")
  parser.add_argument("--out", default=None)
  args = parser.parse_args(argv)
  draws = args.draws or (100 if args.quick else 2000)
  lengths = LENGTHS[:1] if args.quick else LENGTHS
  rows, records = [], []
  for length in lengths:
    for sigma in SIGMAS:
      query, key = gaussian_scores(length * 1000 + int(100 * sigma), length, sigma, draws)
      exact = np.asarray(softmax_entropy(query, key, scale=1.0), np.float64)[..., 0, 0]
      for estimator, solve in VARIANTS:
        weights, aux = eala_weights(query, key, scale=1.0, estimator=estimator, theta_solve=solve)
        w = np.asarray(weights, np.float64)[:, 0, 0]
        nonneg = np.all(w >= 0, -1)
        gap = np.abs(entropy(w) - exact)[nonneg]
        t = np.asarray(aux.theta)[:, 0, 0] * sigma
        record = dict(
            length=length, sigma=sigma, estimator=estimator, theta_solve=solve,
            nonneg_share=float(nonneg.mean()), t_mean=float(t.mean()),
            t_max_nonneg=float(t[nonneg].max()) if nonneg.any() else float("nan"),
            gap_mean=float(gap.mean()) if nonneg.any() else float("nan"),
            gap_max=float(gap.max()) if nonneg.any() else float("nan"),
        )
        records.append(record)
        rows.append([length, sigma, estimator, solve, f"{100 * record['nonneg_share']:.0f} %",
                     f"{record['t_mean']:.3f}",
                     "–" if not nonneg.any() else f"{record['gap_mean']:.4f}",
                     "–" if not nonneg.any() else f"{record['gap_max']:.4f}"])
  table = bu.markdown_table(
      ["L", "σ", "estimator", "θ solve", "rows w ≥ 0", "mean θσ", "mean |ΔH| (w ≥ 0)",
       "max |ΔH| (w ≥ 0)"], rows)
  print(table)
  print()
  # Where the target holds: the largest σ up to which, for every L, every row
  # with non-negative weights is within 0.05 nats of the softmax entropy.
  for estimator, solve in VARIANTS:
    mine = [r for r in records if r["estimator"] == estimator and r["theta_solve"] == solve]
    reach, t_reach = 0.0, 0.0
    for sigma in SIGMAS:
      at = [r for r in mine if r["sigma"] == sigma and r["nonneg_share"] > 0]
      if not at:
        break
      if any(r["gap_max"] >= 0.05 for r in at):
        break
      reach, t_reach = sigma, max(r["t_max_nonneg"] for r in at)
    mean_gap = max(r["gap_mean"] for r in mine if r["sigma"] <= reach and r["nonneg_share"] > 0)
    print(f"{estimator} / {solve}: every non-negative row within 0.05 nats for σ <= {reach}"
          f" (θσ <= {t_reach:.3f}); worst mean |ΔH| there {mean_gap:.4f}")
  bu.write_results(args.out, "theta_solve_entropy", records, table)


if __name__ == "__main__":
  main()
