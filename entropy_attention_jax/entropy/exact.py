"""Exact entropy of softmax attention, chunked over keys.

This is the quadratic-time reference every approximation in
:mod:`entropy_attention_jax.entropy.estimators` is tested against. It never
holds more than one `[batch..., q_len, heads, chunk_size]` block of scores, so
`kv_len = 65,536` fits in memory.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from entropy_attention_jax import _checks
from entropy_attention_jax.entropy import stats
from entropy_attention_jax.typing import Array, ArrayLike, PrecisionLike


def softmax_entropy(
    query: Array,
    key: Array,
    *,
    mask: ArrayLike | None = None,
    scale: float | None = None,
    chunk_size: int = 512,
    precision: PrecisionLike = None,
) -> Array:
  r"""Exact entropy of each query's softmax attention distribution.

  With scores :math:`s_j = \tau\, q \cdot k_j`,
  :math:`H = \mathrm{logsumexp}(s) - \sum_j p_j s_j`. Computed with an online
  (flash-attention style) log-sum-exp over key chunks, relative to the running
  maximum so that huge scores lose no precision.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    mask: optional key-padding mask broadcastable to
      `[batch..., heads, 1, kv_len]`; True keeps a key.
    scale: score scale τ; defaults to `1 / sqrt(head_dim)`.
    chunk_size: keys per chunk; bounds memory at
      `O(batch · q_len · heads · chunk_size)`.
    precision: precision of the score einsum.

  Returns:
    Entropy in nats, float32 of shape `[batch..., q_len, heads]`; 0 for a query
    with no valid key.
  """
  _checks.check_query_key(query, key, "softmax_entropy")
  if chunk_size < 1:
    raise ValueError(f"softmax_entropy: chunk_size must be >= 1, got {chunk_size}.")
  key_mask = _checks.key_padding_mask(mask, query, key, "softmax_entropy")
  tau = _checks.resolve_scale(scale, query.shape[-1])
  batch, kv_len, heads = key.shape[:-3], key.shape[-3], key.shape[-2]
  if key_mask is None:
    key_mask = jnp.ones((*batch, heads, kv_len), bool)

  query = query.astype(jnp.float32) * tau
  key = stats.zero_invalid(key, key_mask).astype(jnp.float32)  # NaN padding: no NaN gradient
  chunk_size = min(chunk_size, kv_len)
  num_chunks = -(-kv_len // chunk_size)
  pad = num_chunks * chunk_size - kv_len
  if pad:
    key = jnp.pad(key, [(0, 0)] * len(batch) + [(0, pad), (0, 0), (0, 0)])
    key_mask = jnp.pad(key_mask, [(0, 0)] * (len(batch) + 1) + [(0, pad)])
  # Chunk axis first, for lax.scan: [chunks, batch..., chunk, heads, head_dim].
  key_chunks = jnp.moveaxis(
      key.reshape(*batch, num_chunks, chunk_size, *key.shape[-2:]), len(batch), 0
  )
  mask_chunks = jnp.moveaxis(
      key_mask.reshape(*batch, heads, num_chunks, chunk_size), -2, 0
  )

  q_shape = query.shape[:-1]  # [batch..., q_len, heads]
  init = (
      jnp.full(q_shape, -jnp.inf, jnp.float32),  # running max of the scores
      jnp.zeros(q_shape, jnp.float32),  # Σ exp(s - max)
      jnp.zeros(q_shape, jnp.float32),  # Σ exp(s - max) (s - max)
  )

  def step(carry, chunk):
    running_max, norm, weighted = carry
    key_chunk, valid = chunk
    valid = jnp.expand_dims(valid, -3)  # [batch..., 1, heads, chunk]
    scores = jnp.einsum(
        "...qhd,...khd->...qhk", query, key_chunk, precision=precision
    )
    scores = jnp.where(valid, scores, 0.0)
    # The entropy is invariant to the shift, so the max needs no gradient.
    chunk_max = jnp.max(jnp.where(valid, scores, -jnp.inf), axis=-1)
    new_max = jax.lax.stop_gradient(jnp.maximum(running_max, chunk_max))
    safe_max = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
    shift = jnp.where(jnp.isfinite(running_max), running_max - safe_max, 0.0)
    decay = jnp.where(jnp.isfinite(running_max), jnp.exp(shift), 0.0)
    centred = scores - safe_max[..., None]
    exp = jnp.where(valid, jnp.exp(jnp.where(valid, centred, 0.0)), 0.0)
    # Re-reference Σ e (s - old_max) to the new max: (s - new) = (s - old) + shift.
    weighted = decay * (weighted + shift * norm) + jnp.sum(exp * centred, -1)
    norm = decay * norm + jnp.sum(exp, -1)
    return (new_max, norm, weighted), None

  (_, norm, weighted), _ = jax.lax.scan(step, init, (key_chunks, mask_chunks))
  has_keys = norm > 0
  safe_norm = jnp.where(has_keys, norm, 1.0)
  entropy = jnp.log(safe_norm) - weighted / safe_norm
  return jnp.where(has_keys, jnp.maximum(entropy, 0.0), 0.0)
