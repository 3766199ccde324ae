"""Kind ``"softmax"``: exact softmax attention, the quadratic baseline."""

from __future__ import annotations

from entropy_attention_jax.attention.kinds._kind import MASK_OPTIONS, AttentionKind
from entropy_attention_jax.attention.softmax import softmax_attention, softmax_weights

KIND = AttentionKind(
    name="softmax",
    fn=softmax_attention,
    weights=softmax_weights,
    options={"scale": None, "implementation": None, **MASK_OPTIONS},
    weight_options=frozenset({"bias", "causal"}),
    summary="exact softmax attention (jax.nn.dot_product_attention), O(L^2)",
    causal_weights=True,
)
