r"""Linear-time estimators of softmax attention entropy.

Every estimator maps a query's :class:`~entropy_attention_jax.entropy.stats.ScoreMoments`
(count `L`, variance σ², optionally the third cumulant κ₃) to an entropy in
nats. With the cumulant generating function of the centred scores under the
uniform distribution over keys,

.. math:: H = \log L - \kappa_2/2 - \kappa_3/3 - \kappa_4/8 - \dots

Regimes (Gaussian queries and keys, `d = 32`; numbers from
`experiments/bench_entropy.py`):

* ``"cumulant2"`` — :math:`\mathrm{clip}(\log L - σ^2/2, 0, \log L)`. Exact to
  second order; accurate while the softmax is not peaked (σ² well below
  log L); in the peaked regime it undershoots, down to the clamp at 0.
* ``"gaussian_ensemble"`` — E[H | σ, L] for i.i.d. Gaussian scores, tabulated
  (:mod:`~entropy_attention_jax.entropy.ensemble`). Matches cumulant2 where
  that is accurate and stays calibrated when σ² ≳ log L; what remains there is
  the draw-to-draw fluctuation of the few largest scores.
* ``"cumulant3"`` — adds −κ₃/3 from the key third-moment tensor (`O(d³)` per
  query), limited to half the second-order term (beyond that the series is
  outside its range of validity). Helps when key projections are skewed
  (non-Gaussian keys) at moderate spread; on Gaussian keys κ₃ is sampling
  noise.

An estimator is a plain function of the moments, so the same code serves the
linear-time path (moments from key statistics) and the quadratic reference
(moments from explicit scores).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.entropy import ensemble, stats
from entropy_attention_jax.typing import Array, ArrayLike, PrecisionLike


@dataclasses.dataclass(frozen=True)
class EntropyEstimator:
  """A named linear-time entropy estimator.

  Attributes:
    name: registry name.
    fn: `ScoreMoments -> entropy [batch..., q_len, heads]`.
    needs_third_moment: whether `fn` reads `ScoreMoments.third_cumulant`.
    regime: one line on where it is accurate.
  """

  name: str
  fn: Callable[[stats.ScoreMoments], Array]
  needs_third_moment: bool = False
  regime: str = ""

  def __call__(self, moments: stats.ScoreMoments) -> Array:
    return self.fn(moments)


def _log_count(moments: stats.ScoreMoments) -> Array:
  return jnp.log(stats.safe_count(moments.count))


def cumulant2_entropy(moments: stats.ScoreMoments) -> Array:
  """`clip(log L - σ²/2, 0, log L)`: the second-order cumulant expansion."""
  log_count = _log_count(moments)
  return jnp.clip(log_count - moments.variance / 2, 0.0, log_count)


# The third-order term may be at most this fraction of the second-order one.
_THIRD_ORDER_LIMIT = 0.5


def cumulant3_entropy(moments: stats.ScoreMoments) -> Array:
  """`clip(log L - σ²/2 - c₃, 0, log L)` with `c₃ = clip(κ₃/3, -σ²/4, σ²/4)`.

  The cumulant series is a small-spread expansion; it is only meaningful
  while its terms shrink. On peaked scores κ₃ grows like σ³ and, unclamped,
  a negative κ₃ pushed the estimate up to log L (uniform weights for sharp
  softmaxes: 41 % of such queries at q, k x 10). Limiting the third-order term
  to half the second-order one keeps the moderate-spread gain and never
  saturates (experiments/cumulant3_validity.py).
  """
  if moments.third_cumulant is None:
    raise ValueError("cumulant3_entropy needs ScoreMoments.third_cumulant.")
  log_count = _log_count(moments)
  limit = _THIRD_ORDER_LIMIT * moments.variance / 2
  third = jnp.clip(moments.third_cumulant / 3, -limit, limit)
  return jnp.clip(log_count - moments.variance / 2 - third, 0.0, log_count)


def gaussian_ensemble_entropy(moments: stats.ScoreMoments) -> Array:
  """E[H | σ, L] of i.i.d. Gaussian scores, interpolated from the shipped table."""
  sigma = jnp.sqrt(moments.variance + 1e-30)
  return ensemble.expected_entropy(sigma, moments.count)


ESTIMATORS: Mapping[str, EntropyEstimator] = {
    e.name: e
    for e in (
        EntropyEstimator(
            "cumulant2", cumulant2_entropy,
            regime="moderate score spread (σ² below log L); undershoots when peaked",
        ),
        EntropyEstimator(
            "gaussian_ensemble", gaussian_ensemble_entropy,
            regime="all spreads for near-Gaussian scores; best when peaked",
        ),
        EntropyEstimator(
            "cumulant3", cumulant3_entropy, needs_third_moment=True,
            regime="moderate spread with skewed keys; head_dim ≤ 32 (O(d³) per query)",
        ),
    )
}


def get_estimator(estimator: str | EntropyEstimator) -> EntropyEstimator:
  """Looks up an estimator by name (an :class:`EntropyEstimator` passes through).

  Raises:
    ValueError: an unknown name; the message lists the known ones.
  """
  if isinstance(estimator, EntropyEstimator):
    return estimator
  try:
    return ESTIMATORS[estimator]
  except (KeyError, TypeError):
    raise ValueError(
        f"unknown entropy estimator {estimator!r}; expected one of"
        f" {sorted(ESTIMATORS)} or an EntropyEstimator."
    ) from None


def approx_entropy(
    query: Array,
    key: Array,
    *,
    estimator: str | EntropyEstimator = "cumulant2",
    mask: ArrayLike | None = None,
    scale: float | None = None,
    precision: PrecisionLike = None,
) -> Array:
  """Linear-time estimate of each query's softmax attention entropy.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    estimator: a name in :data:`ESTIMATORS` or an :class:`EntropyEstimator`.
    mask: optional key-padding mask broadcastable to
      `[batch..., heads, 1, kv_len]`; True keeps a key.
    scale: score scale τ; defaults to `1 / sqrt(head_dim)`.
    precision: einsum precision.

  Returns:
    Entropy in nats, float32 `[batch..., q_len, heads]`, within `[0, log L]`;
    0 for a query with no valid key. Time `O((q_len + kv_len) · head_dim²)`.

  Raises:
    ValueError: mismatched shapes, an unknown estimator or a general mask.
  """
  _checks.check_query_key(query, key, "approx_entropy")
  estimator = get_estimator(estimator)
  key_mask = _checks.key_padding_mask(mask, query, key, "approx_entropy")
  tau = _checks.resolve_scale(scale, query.shape[-1])
  key_stats = stats.key_statistics(
      key, key_mask, third_moment=estimator.needs_third_moment, precision=precision
  )
  moments = stats.score_moments(query, key_stats, tau, precision=precision)
  return estimator(moments)
