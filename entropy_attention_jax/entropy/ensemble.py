r"""The Gaussian-ensemble entropy table: E[H | σ, L] for Gaussian scores.

Model each query's `L` centred scores as i.i.d. Gaussian draws. The softmax
entropy then depends only on the spread σ and on `L`, so its expectation can be
tabulated once by Monte Carlo and interpolated inside `jit`. Each Monte Carlo
draw is standardised to sample mean 0 and sample standard deviation exactly 1
before scaling by σ, because the estimator is given the *measured* spread of a
query's scores, not a population parameter: the table is E[H | sample σ, L].

The shipped table (`gaussian_ensemble_table.npz`) is regenerated with::

  python -m entropy_attention_jax.entropy.ensemble --out \
      entropy_attention_jax/entropy/gaussian_ensemble_table.npz

Outside the table, two scaling laws of the random energy model extrapolate:

* `L` above the largest tabulated length `L_max`: H/log L is (asymptotically) a
  function of σ/√(2 log L), so
  :math:`H(σ, L) ≈ \frac{\log L}{\log L_{max}} H(σ \sqrt{\log L_{max}/\log L}, L_{max})`.
* σ above the largest tabulated σ_max (frozen phase, entropy ∝ temperature):
  :math:`H(σ, L) ≈ H(σ_{max}, L)\, σ_{max} / σ`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.resources
import io
import time

import jax
import jax.numpy as jnp
import numpy as np

from entropy_attention_jax.typing import Array

TABLE_FILE = "gaussian_ensemble_table.npz"


@dataclasses.dataclass(frozen=True)
class EnsembleTable:
  """E[H | σ, L] on a grid.

  Attributes:
    sigmas: increasing σ grid `[S]`, starting at 0.
    lengths: increasing integer lengths `[N]`, starting at 1.
    entropy: mean entropy in nats `[S, N]`.
    std_error: Monte Carlo standard error of each entry `[S, N]`.
    samples: Monte Carlo draws per length `[N]`.
    seed: the PRNG seed of the generator.
  """

  sigmas: np.ndarray
  lengths: np.ndarray
  entropy: np.ndarray
  std_error: np.ndarray
  samples: np.ndarray
  seed: int

  def save(self, path: str) -> None:
    np.savez_compressed(path, **dataclasses.asdict(self))

  @classmethod
  def from_npz(cls, file) -> "EnsembleTable":
    with np.load(file) as data:
      return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@functools.cache
def load_table() -> EnsembleTable:
  """The table shipped with the package (read once, then cached)."""
  blob = importlib.resources.files(__package__).joinpath(TABLE_FILE).read_bytes()
  return EnsembleTable.from_npz(io.BytesIO(blob))


def _interp_index(grid: np.ndarray, x: Array) -> tuple[Array, Array]:
  """Lower grid index and fraction for linear interpolation, clamped to the grid."""
  grid = jnp.asarray(grid, jnp.float32)
  x = jnp.clip(x, grid[0], grid[-1])
  lower = jnp.clip(jnp.searchsorted(grid, x, side="right") - 1, 0, grid.shape[0] - 2)
  frac = (x - grid[lower]) / (grid[lower + 1] - grid[lower])
  return lower, frac


def expected_entropy(
    sigma: Array, count: Array, table: EnsembleTable | None = None
) -> Array:
  """Interpolates E[H | σ, L] (bilinear in σ and log L), jit-compatible.

  Args:
    sigma: spread of the centred scores, any shape.
    count: number of keys L (float allowed), broadcastable to `sigma`.
    table: defaults to the shipped table.

  Returns:
    Expected entropy in nats, float32, the broadcast shape; 0 where `count <= 1`.
  """
  table = load_table() if table is None else table
  return _interpolate(table, table.entropy, sigma, count)


def expected_entropy_std_error(
    sigma: Array, count: Array, table: EnsembleTable | None = None
) -> Array:
  """Monte Carlo standard error of :func:`expected_entropy` at the same points."""
  table = load_table() if table is None else table
  return _interpolate(table, table.std_error, sigma, count)


def _interpolate(
    table: EnsembleTable, values: np.ndarray, sigma: Array, count: Array
) -> Array:
  """Bilinear interpolation of `values [S, N]`, extrapolated by the scaling laws."""
  sigma = jnp.asarray(sigma, jnp.float32)
  count = jnp.asarray(count, jnp.float32)
  log_lengths = np.log(table.lengths.astype(np.float64))
  log_max = float(log_lengths[-1])
  sigma_max = float(table.sigmas[-1])

  log_count = jnp.log(jnp.maximum(count, 1.0))
  # Beyond the longest tabulated length: rescale onto it (REM scaling).
  ratio = log_max / jnp.maximum(log_count, log_max)
  sigma_eff = sigma * jnp.sqrt(ratio)
  log_count_eff = jnp.minimum(log_count, log_max)
  # Beyond the largest tabulated σ: entropy ∝ 1/σ in the frozen phase.
  frozen_factor = sigma_max / jnp.maximum(sigma_eff, sigma_max)
  sigma_eff = jnp.minimum(sigma_eff, sigma_max)

  i, fi = _interp_index(table.sigmas, sigma_eff)
  j, fj = _interp_index(log_lengths, log_count_eff)
  grid = jnp.asarray(values, jnp.float32)
  value = (
      (1 - fi) * (1 - fj) * grid[i, j]
      + fi * (1 - fj) * grid[i + 1, j]
      + (1 - fi) * fj * grid[i, j + 1]
      + fi * fj * grid[i + 1, j + 1]
  )
  return jnp.where(count > 1.0, value * frozen_factor / ratio, 0.0)


def _mean_entropy(key: Array, sigmas: Array, length: int, draws: int) -> tuple[Array, Array]:
  """Monte Carlo mean and second moment of H over `draws` standardised samples."""
  z = jax.random.normal(key, (draws, length), jnp.float32)
  if length > 1:
    z = z - z.mean(-1, keepdims=True)
    z = z / jnp.sqrt(jnp.mean(z**2, -1, keepdims=True))
  else:
    z = jnp.zeros_like(z)

  def per_sigma(sigma):
    scores = sigma * z
    log_probs = jax.nn.log_softmax(scores, axis=-1)
    entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)
    return jnp.sum(entropy), jnp.sum(entropy**2)

  return jax.lax.map(per_sigma, sigmas)


def generate_table(
    sigmas: np.ndarray,
    lengths: np.ndarray,
    *,
    elements_per_length: int = 2**27,
    min_draws: int = 256,
    max_draws: int = 65536,
    batch_elements: int = 2**21,
    seed: int = 0,
    verbose: bool = False,
) -> EnsembleTable:
  """Monte Carlo estimate of E[H | σ, L] with common random numbers across σ.

  Args:
    sigmas: σ grid, increasing, from 0.
    lengths: integer lengths, increasing, from 1.
    elements_per_length: draws × length budget per length (more for short L).
    min_draws: lower bound on draws per length.
    max_draws: upper bound on draws per length.
    batch_elements: draws × length per jitted batch (bounds memory).
    seed: PRNG seed.
    verbose: print progress.

  Returns:
    The :class:`EnsembleTable`.
  """
  sigmas = np.asarray(sigmas, np.float32)
  lengths = np.asarray(lengths, np.int64)
  if sigmas[0] != 0 or np.any(np.diff(sigmas) <= 0):
    raise ValueError("generate_table: sigmas must increase from 0.")
  if lengths[0] != 1 or np.any(np.diff(lengths) <= 0):
    raise ValueError("generate_table: lengths must increase from 1.")
  mean = np.zeros((len(sigmas), len(lengths)))
  std_error = np.zeros_like(mean)
  samples = np.zeros(len(lengths), np.int64)
  mean_entropy = jax.jit(_mean_entropy, static_argnums=(2, 3))
  key = jax.random.key(seed)
  for col, length in enumerate(lengths):
    draws = int(np.clip(elements_per_length // length, min_draws, max_draws))
    per_batch = max(1, min(draws, batch_elements // length))
    total, total_sq, done = 0.0, 0.0, 0
    start = time.time()
    while done < draws:
      key, sub = jax.random.split(key)
      s1, s2 = mean_entropy(sub, jnp.asarray(sigmas), int(length), per_batch)
      total, total_sq, done = total + np.asarray(s1, np.float64), total_sq + np.asarray(s2, np.float64), done + per_batch
    mean[:, col] = total / done
    variance = np.maximum(total_sq / done - mean[:, col] ** 2, 0.0)
    std_error[:, col] = np.sqrt(variance / done)
    samples[col] = done
    if verbose:
      print(
          f"L={length:>6d} draws={done:>6d} max s.e.={std_error[:, col].max():.4f}"
          f" ({time.time() - start:.1f}s)",
          flush=True,
      )
  return EnsembleTable(sigmas, lengths, mean.astype(np.float32), std_error.astype(np.float32), samples, seed)


def default_grid() -> tuple[np.ndarray, np.ndarray]:
  """σ in [0, 12] step 0.1; lengths at half-octaves from 1 to 65,536."""
  sigmas = np.round(np.arange(0, 121) * 0.1, 6)
  lengths = np.unique(np.round(2.0 ** np.arange(0, 16.5, 0.5)).astype(np.int64))
  return sigmas, lengths


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", required=True, help="output .npz path")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--elements-per-length", type=int, default=2**27,
                      help="draws × length per tabulated length")
  args = parser.parse_args(argv)
  sigmas, lengths = default_grid()
  table = generate_table(
      sigmas, lengths, elements_per_length=args.elements_per_length,
      seed=args.seed, verbose=True,
  )
  table.save(args.out)
  print(f"wrote {args.out}: {table.entropy.shape} entries, max s.e. {table.std_error.max():.4f}")


if __name__ == "__main__":
  main()
