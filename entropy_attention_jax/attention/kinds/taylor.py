"""Kind ``"taylor"``: EALA's linear weights with θ ≡ 1 (the ablation)."""

from __future__ import annotations

from entropy_attention_jax.attention.eala import eala_weights, init_eala_state
from entropy_attention_jax.attention.kinds._kind import (
    LINEAR_TIME_OPTIONS,
    AttentionKind,
    key_mask_weights,
)
from entropy_attention_jax.attention.taylor import taylor_attention


def _weights(query, key, *, key_mask, causal, scale):
  return eala_weights(query, key, key_mask=key_mask, causal=causal, scale=scale,
                      fixed_theta=1.0)[0]


KIND = AttentionKind(
    name="taylor",
    fn=taylor_attention,
    weights=key_mask_weights("taylor", _weights, causal_mask=True),
    options={"scale": None, "form": None, "implementation": None, **LINEAR_TIME_OPTIONS},
    weight_options=frozenset(),
    summary="first-order Taylor weights (EALA with theta = 1), O(L)",
    init_state=lambda batch_shape, heads, head_dim, v_dim, options: init_eala_state(
        batch_shape, heads, head_dim, v_dim
    ),
)
