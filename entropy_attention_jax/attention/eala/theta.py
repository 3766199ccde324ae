r"""The per-query sharpness θ shared by every EALA form.

EALA weights are :math:`w_j = \frac1L(1 + θ_q d_j)` with centred scores
:math:`d_j = s_j - \bar s`. They sum to 1, keep the softmax ranking for θ > 0
and, to second order, have entropy :math:`\log L - θ^2 σ_q^2 / 2`. Equating that
to the softmax-entropy estimate :math:`\hat H_q` gives

.. math:: θ^*_q = \sqrt{2 \max(\log L - \hat H_q, 0)} / σ_q .

That is the ``"second_order"`` solve (the default). The weights' entropy is
really :math:`\log L - \frac1L\sum_j f(θ d_j)` with
:math:`f(x) = (1+x)\log(1+x) = x + x^2/2 - x^3/6 + x^4/12 - \dots`, so with
`t = θσ`, standardised skewness `γ = κ₃/σ³` and a Gaussian fourth moment
(`3σ⁴`; the fourth moment itself costs `O(d⁴)` per query)

.. math:: \log L - H_{lin} ≈ F(t) = t^2/2 - γ t^3/6 + t^4/4 .

``"fourth_order"`` solves `F(t) = log L − Ĥ` for t (γ is 0 unless the
estimator computes κ₃, i.e. ``"cumulant3"``); see docs/attention.md.

The forms (naive, parallel, chunked, recurrent) differ only in how they
accumulate σ, Ĥ and the output; they all solve θ here.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from entropy_attention_jax.entropy import stats
from entropy_attention_jax.typing import Array


class EalaAux(NamedTuple):
  """Per-query diagnostics of an EALA call.

  Attributes:
    theta: the sharpness θ used, `[batch..., q_len, heads]`.
    entropy_target: the softmax-entropy estimate Ĥ matched,
      `[batch..., q_len, heads]`.
  """

  theta: Array
  entropy_target: Array


def key_norm(x: Array) -> Array:
  """||x|| over the last axis; the tiny offset keeps its gradient finite at 0."""
  return jnp.sqrt(jnp.einsum("...d,...d->...", x, x) + 1e-30)


def first_valid_key(key: Array, key_mask: Array | None) -> Array:
  """The anchor a: each head's first valid key, `[batch..., heads, head_dim]`.

  Args:
    key: `[batch..., kv_len, heads, head_dim]`.
    key_mask: optional boolean `[batch..., heads, kv_len]`.
  """
  if key_mask is None:
    return key[..., 0, :, :].astype(jnp.float32)
  index = jnp.argmax(key_mask, axis=-1)  # first True (0 when none is valid)
  index = index[..., None, :, None]  # [batch..., 1, heads, 1]
  return jnp.take_along_axis(key, index, axis=-3)[..., 0, :, :].astype(jnp.float32)


# Below this score variance every d_j is ~0 and θ does not affect the output;
# θ is then reported as its small-spread limit, 1.
_MIN_VARIANCE = 1e-12


def matched_theta(entropy_target: Array, moments: stats.ScoreMoments) -> Array:
  """θ* = √(2·max(log L − Ĥ, 0)) / σ, with θ* = 1 where σ ≈ 0.

  Args:
    entropy_target: Ĥ, `[batch..., q_len, heads]`.
    moments: the same queries' score moments.

  Returns:
    θ* ≥ 0, `[batch..., q_len, heads]`.
  """
  log_count = jnp.log(stats.safe_count(moments.count))
  gap = jnp.maximum(log_count - entropy_target, 0.0)
  spread = moments.variance > _MIN_VARIANCE
  ratio = 2.0 * gap / jnp.where(spread, moments.variance, 1.0)
  # sqrt has an infinite derivative at 0; route zeros around it.
  positive = ratio > 0
  theta = jnp.where(positive, jnp.sqrt(jnp.where(positive, ratio, 1.0)), 0.0)
  return jnp.where(spread, theta, 1.0)


NONNEG_BOUNDS = ("anchored", "centered")


def resolve_nonneg(nonneg: bool | str, causal: bool, fn_name: str) -> str | None:
  """Maps the `nonneg` option to a bound name (or None for no clamp).

  Two linear-time radii r ≥ max_j ||k_j − k̄|| bound the most negative centred
  score by τ‖q‖r:

  * ``"anchored"`` (what ``True`` means): `max_j ||k_j − a|| + ||k̄ − a||` with
    `a` the first valid key. Both terms are prefix statistics, so the causal
    and recurrent forms compute it exactly like the non-causal one.
  * ``"centered"``: `max_j ||k_j − k̄||`, tighter (by up to 2× for isotropic
    keys) but not a prefix statistic: non-causal only.

  Raises:
    ValueError: an unknown value, or ``"centered"`` with causal attention.
  """
  if nonneg is False or nonneg is None:
    return None
  bound = "anchored" if nonneg is True else nonneg
  if bound not in NONNEG_BOUNDS:
    raise ValueError(
        f"{fn_name}: nonneg must be False, True or one of {NONNEG_BOUNDS}, got {nonneg!r}."
    )
  if causal and bound == "centered":
    raise ValueError(
        f"{fn_name}: nonneg='centered' needs max_j ||k_j - mean(k)|| over each"
        " query's prefix, which is not a prefix statistic; use nonneg=True"
        " ('anchored') with causal attention."
    )
  return bound


def nonneg_theta_bound(scaled_query: Array, key_radius: Array) -> Array:
  r"""Largest θ for which every weight is provably ≥ 0, in linear time.

  :math:`\max_j(-d_j) \le τ\lVert q\rVert \max_j \lVert k_j - \bar k\rVert
  \le τ\lVert q\rVert r`, so :math:`θ \le 1 / (τ \lVert q\rVert\, r)` keeps
  :math:`1 + θ d_j \ge 0`.

  Args:
    scaled_query: τ·q, `[batch..., q_len, heads, head_dim]` (or heads-major
      `[batch..., heads, q_len, head_dim]`: only the last axis is reduced).
    key_radius: any r ≥ `max_j ||k_j − k̄||` (see :func:`resolve_nonneg`),
      broadcastable to the query's leading axes.

  Returns:
    The bound, the query's leading axes (`inf` where τ‖q‖r ≈ 0).
  """
  return _bound(key_norm(scaled_query.astype(jnp.float32)) * key_radius)


# Below this reach τ‖q‖r the bound 1/reach (> 1e12) never binds; treating it as
# infinite keeps the derivative −1/reach² finite (it overflows float32 near 1e-19
# and would turn a zero cotangent into NaN at q = 0 or k = 0).
_MIN_REACH = 1e-12


def _bound(reach: Array) -> Array:
  binding = reach > _MIN_REACH
  return jnp.where(binding, 1.0 / jnp.where(binding, reach, 1.0), jnp.inf)


THETA_SOLVES = ("second_order", "fourth_order")

# |γ| ≤ 3 keeps F'(t) = t(1 − γt/2 + t²) > 0 for t > 0 (the quadratic has no
# real root), so the fourth-order equation has exactly one root.
_MAX_SKEWNESS = 3.0
_BISECTION_STEPS = 40


def check_theta_solve(theta_solve: str, fn_name: str) -> None:
  """Raises a one-line ValueError for an unknown `theta_solve`."""
  if theta_solve not in THETA_SOLVES:
    raise ValueError(
        f"{fn_name}: theta_solve must be one of {THETA_SOLVES}, got {theta_solve!r}."
    )


def fourth_order_theta(entropy_target: Array, moments: stats.ScoreMoments) -> Array:
  r"""θ with :math:`t^2/2 - γt^3/6 + t^4/4 = \log L - \hat H`, `t = θσ`.

  The left side is the fourth-order cumulant series of
  :math:`\frac1L\sum_j (1+θd_j)\log(1+θd_j)` (Gaussian fourth moment, the
  measured skewness γ = κ₃/σ³ when `moments` has κ₃, clipped to ±3 so the
  root is unique). Without κ₃ the root is closed-form,
  :math:`t^2 = \sqrt{1 + 4G} - 1`; with it, bisection on `[0, 2\sqrt G]`
  (F(t) ≥ t²/4 there) and one Newton step, which also carries the gradient
  (implicit differentiation). Elementwise: `O(1)` per query after the moments.

  Args:
    entropy_target: Ĥ, `[batch..., q_len, heads]`.
    moments: the same queries' score moments.

  Returns:
    θ ≥ 0, `[batch..., q_len, heads]`; 1 where σ ≈ 0 (as :func:`matched_theta`).
  """
  log_count = jnp.log(stats.safe_count(moments.count))
  gap = jnp.maximum(log_count - entropy_target, 0.0)
  spread = moments.variance > _MIN_VARIANCE
  variance = jnp.where(spread, moments.variance, 1.0)
  sigma = jnp.sqrt(variance)
  # t² = √(1 + 4G) − 1 = 4G / (√(1 + 4G) + 1): the second form has no cancellation.
  t_squared = 4.0 * gap / (jnp.sqrt(1.0 + 4.0 * gap) + 1.0)
  if moments.third_cumulant is not None:
    skew = jnp.clip(moments.third_cumulant / (variance * sigma), -_MAX_SKEWNESS, _MAX_SKEWNESS)
    series = lambda t: t**2 / 2 - skew * t**3 / 6 + t**4 / 4
    low = jnp.zeros_like(gap)
    high = 2.0 * jnp.sqrt(gap) + 1e-6
    for _ in range(_BISECTION_STEPS):
      middle = (low + high) / 2
      above = series(middle) > gap
      low, high = jnp.where(above, low, middle), jnp.where(above, middle, high)
    t = jax.lax.stop_gradient((low + high) / 2)
    slope = t * (1.0 - skew * t / 2 + t**2)
    # One Newton step: value ≈ t, derivative = the implicit-function gradient.
    safe_slope = jnp.where(slope > 1e-6, slope, 1.0)
    t = jnp.where(slope > 1e-6, t - (series(t) - gap) / safe_slope, t)
    t_squared = t**2
  positive = t_squared > 0
  # sqrt has an infinite derivative at 0; route zeros around it.
  t = jnp.where(positive, jnp.sqrt(jnp.where(positive, t_squared, 1.0)), 0.0)
  return jnp.where(spread, t / sigma, 1.0)


def solve_theta(
    entropy_target: Array,
    moments: stats.ScoreMoments,
    *,
    bound: Array | None = None,
    theta_scale: float = 1.0,
    fixed_theta: float | None = None,
    theta_solve: str = "second_order",
) -> Array:
  """θ for each query: matched (or fixed), scaled, then clamped to `bound`.

  Args:
    entropy_target: Ĥ, `[batch..., q_len, heads]`.
    moments: the queries' score moments.
    bound: optional upper bound from :func:`nonneg_theta_bound`.
    theta_scale: multiplies θ*; > 1 sharpens, < 1 flattens the weights.
    fixed_theta: use this θ for every query instead of θ* (1 gives the
      first-order Taylor ablation).
    theta_solve: how θ* matches Ĥ: ``"second_order"`` (:func:`matched_theta`)
      or ``"fourth_order"`` (:func:`fourth_order_theta`).

  Returns:
    `[batch..., q_len, heads]`.
  """
  check_theta_solve(theta_solve, "solve_theta")
  if fixed_theta is None and theta_solve == "fourth_order":
    theta = fourth_order_theta(entropy_target, moments)
  elif fixed_theta is None:
    theta = matched_theta(entropy_target, moments)
  else:
    theta = jnp.full(moments.variance.shape, fixed_theta, jnp.float32)
  theta = theta * theta_scale
  if bound is not None:
    theta = jnp.minimum(theta, bound)
  return theta
