"""Kind ``"performer"``: softmax estimated with positive random features (FAVOR+)."""

from __future__ import annotations

from entropy_attention_jax.attention.kinds._kind import (
    LINEAR_TIME_OPTIONS,
    AttentionKind,
    FixedParameter,
    key_mask_weights,
)
from entropy_attention_jax.attention.performer import (
    performer_attention,
    performer_features,
    performer_weights,
)


def _weights(query, key, *, key_mask, causal, scale, **options):
  del causal  # refused by key_mask_weights
  return performer_weights(query, key, key_mask=key_mask, scale=scale, **options)


KIND = AttentionKind(
    name="performer",
    fn=performer_attention,
    weights=key_mask_weights("performer", _weights),
    options={"num_features": 256, "scale": None, "eps": 1e-6, **LINEAR_TIME_OPTIONS},
    weight_options=frozenset({"features", "feature_key", "num_features"}),
    summary="Performer (positive random features), O(L)",
    fixed=FixedParameter(
        attribute="performer_features", argument="features", options=("num_features",),
        make=lambda rng, head_dim, num_features: performer_features(rng, num_features, head_dim),
        replaces=("feature_key",),
    ),
)
