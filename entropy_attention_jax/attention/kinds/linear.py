"""Kind ``"linear"``: kernelised linear attention, elu+1 features (Katharopoulos et al.)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from entropy_attention_jax.attention.kinds._kind import (
    LINEAR_TIME_OPTIONS,
    AttentionKind,
    key_mask_weights,
)
from entropy_attention_jax.attention.linear import (
    elu_feature_map,
    init_linear_state,
    kernel_weights,
    linear_attention,
)


def _weights(query, key, *, key_mask, causal, scale, feature_map=elu_feature_map):
  del causal  # refused by key_mask_weights
  multiplier = 1.0 if scale is None else scale
  return kernel_weights(
      feature_map(query.astype(jnp.float32) * multiplier),
      feature_map(key.astype(jnp.float32)),
      key_mask,
  )


def _init_state(batch_shape, heads, head_dim, v_dim, options):
  feature_map = options.get("feature_map", elu_feature_map)
  features = jax.eval_shape(feature_map, jax.ShapeDtypeStruct((head_dim,), jnp.float32))
  return init_linear_state(batch_shape, heads, features.shape[-1], v_dim)


KIND = AttentionKind(
    name="linear",
    fn=linear_attention,
    weights=key_mask_weights("linear", _weights),
    options={"scale": None, "feature_map": elu_feature_map, "eps": 1e-6, **LINEAR_TIME_OPTIONS},
    weight_options=frozenset({"feature_map"}),
    summary="kernelised linear attention (elu+1 features), O(L)",
    init_state=_init_state,
    scale_is_temperature=False,  # `scale` multiplies the queries before the feature map
)
