"""Kind ``"eala"``: entropy-equality linear attention (the default)."""

from __future__ import annotations

from entropy_attention_jax.attention.eala import eala_attention, eala_weights, init_eala_state
from entropy_attention_jax.attention.kinds._kind import (
    LINEAR_TIME_OPTIONS,
    AttentionKind,
    key_mask_weights,
)
from entropy_attention_jax.entropy import estimators


def _weights(query, key, *, key_mask, causal, scale, **options):
  return eala_weights(query, key, key_mask=key_mask, causal=causal, scale=scale, **options)[0]


def _init_state(batch_shape, heads, head_dim, v_dim, options):
  estimator = estimators.get_estimator(options.get("estimator", "cumulant2"))
  return init_eala_state(
      batch_shape, heads, head_dim, v_dim, third_moment=estimator.needs_third_moment
  )


KIND = AttentionKind(
    name="eala",
    fn=eala_attention,
    weights=key_mask_weights("eala", _weights, causal_mask=True),
    options={
        "estimator": "cumulant2", "nonneg": False, "scale": None, "theta_scale": 1.0,
        "theta_solve": "second_order",
        "form": None, "implementation": None, **LINEAR_TIME_OPTIONS,
    },
    weight_options=frozenset({"estimator", "nonneg", "theta_scale", "theta_solve"}),
    summary="entropy-equality linear attention, O(L)",
    init_state=_init_state,
    sows=("theta", "entropy_target"),
)
