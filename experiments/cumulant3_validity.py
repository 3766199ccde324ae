"""Where the third-order entropy estimate is valid: `cumulant3` before and after its clamp.

The third-order expansion `log L − σ²/2 − κ₃/3` is a small-spread series. On
peaked scores κ₃ grows like σ³ and, when negative, pushes the estimate up to
the clamp at log L: uniform weights (θ = 0) for queries whose softmax is
sharp. For each setting this prints, per estimator, the share of *saturated*
queries (exact entropy < 0.5 log L but estimate ≥ 0.99 log L) and the mean
absolute error in nats. "cumulant3 (unclamped)" is the formula before the
fix; "cumulant3" is the library's.

  python experiments/cumulant3_validity.py
  python experiments/cumulant3_validity.py --length 512 --queries 512
  python experiments/cumulant3_validity.py --quick --out DIR   # 64 keys, 64 queries; DIR/table.md
"""

from __future__ import annotations

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from entropy_attention_jax.entropy import ESTIMATORS, EntropyEstimator, softmax_entropy, stats


def unclamped_cumulant3(moments: stats.ScoreMoments):
  """The estimator before the fix: clip(log L − σ²/2 − κ₃/3, 0, log L)."""
  log_count = jnp.log(stats.safe_count(moments.count))
  value = log_count - moments.variance / 2 - moments.third_cumulant / 3
  return jnp.clip(value, 0.0, log_count)


ESTIMATES = {
    "cumulant3 (unclamped)": EntropyEstimator("unclamped", unclamped_cumulant3, needs_third_moment=True),
    **{name: ESTIMATORS[name] for name in ("cumulant3", "cumulant2", "gaussian_ensemble")},
}


def sample(seed, length, queries, head_dim, scale, keys):
  q_key, k_key = jax.random.split(jax.random.key(seed))
  query = jax.random.normal(q_key, (1, queries, 1, head_dim))
  if keys == "gaussian":
    key = jax.random.normal(k_key, (1, length, 1, head_dim))
  else:  # skewed: centred unit exponentials
    key = jax.random.exponential(k_key, (1, length, 1, head_dim)) - 1.0
  return query * scale, key * scale


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--length", type=int, default=256)
  parser.add_argument("--queries", type=int, default=256)
  parser.add_argument("--head-dim", type=int, default=16)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--quick", action="store_true", help="64 keys and 64 queries")
  parser.add_argument("--out", default=None,
                      help="also write the table to OUT/cumulant3_validity.md")
  args = parser.parse_args()
  if args.quick:
    args.length, args.queries = 64, 64
  from entropy_attention_jax.entropy import approx_entropy  # pylint: disable=g-import-not-at-top

  log_l = np.log(args.length)
  settings = [("gaussian", s) for s in (0.5, 1.0, 1.5, 2.0, 3.0, 10.0, 1000.0)] + [
      ("exponential", s) for s in (0.5, 1.0, 1.5, 2.0, 3.0, 1000.0)
  ]
  lines = [
      f"L = {args.length}, d = {args.head_dim}, {args.queries} queries; q and k both x scale",
      "| keys | scale | share exact < 0.5 log L | " + " | ".join(
          f"{name}: saturated / error" for name in ESTIMATES) + " |",
      "|---|---|---|" + "---|" * len(ESTIMATES),
  ]
  print("\n".join(lines))
  for keys, scale in settings:
    query, key = sample(args.seed, args.length, args.queries, args.head_dim, scale, keys)
    exact = np.asarray(softmax_entropy(query, key)).ravel()
    peaked = exact < 0.5 * log_l
    cells = []
    for estimator in ESTIMATES.values():
      estimate = np.asarray(approx_entropy(query, key, estimator=estimator)).ravel()
      error = np.mean(np.abs(estimate - exact))
      if peaked.any():
        cells.append(f"{100 * np.mean(estimate[peaked] >= 0.99 * log_l):.0f} % / {error:.2f}")
      else:
        cells.append(f"– / {error:.2f}")
    lines.append(
        f"| {keys} | {scale:g} | {100 * peaked.mean():.0f} % | " + " | ".join(cells) + " |"
    )
    print(lines[-1])
  if args.out:
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cumulant3_validity.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'cumulant3_validity.md'}")


if __name__ == "__main__":
  main()
