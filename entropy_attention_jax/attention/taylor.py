r"""First-order Taylor attention: EALA's linear weights with θ ≡ 1.

:math:`w_j = \frac1L(1 + (s_j - \bar s))` is the first-order expansion of
softmax around uniform weights. It is the ablation that isolates what the
entropy-matched θ of :func:`~entropy_attention_jax.attention.eala_attention`
adds.
"""

from __future__ import annotations

from typing import Any

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import _common
from entropy_attention_jax.attention.eala.forms import linear_weight_attention
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike, PRNGKey


def taylor_attention(
    query: Array,
    key: Array,
    value: Array,
    bias: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    *,
    scale: float | None = None,
    causal: bool = False,
    is_causal: bool = False,
    chunk_size: int = 64,
    implementation: str | None = None,
    broadcast_dropout: bool = True,
    dropout_rng: PRNGKey | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
) -> Array:
  """Linear attention with weights `(1 + s_j - mean(s)) / L`; `O(kv_len)`.

  Args and Returns: as :func:`~entropy_attention_jax.attention.eala_attention`
  (no estimator: θ is fixed at 1, so weights can be negative).
  """
  del broadcast_dropout, dropout_rng, module
  fn_name = "taylor_attention"
  _checks.check_query_key(query, key, fn_name, value)
  _checks.reject_bias(bias, fn_name)
  _common.reject_weight_dropout(dropout_rate, deterministic, fn_name)
  key_mask = _checks.key_padding_mask(mask, query, key, fn_name)
  causal = causal or is_causal
  if causal:
    _common.check_causal_lengths(query, key, fn_name)
  output, _ = linear_weight_attention(
      query, key, value, key_mask=key_mask, causal=causal, implementation=implementation,
      chunk_size=chunk_size, precision=precision, fn_name=fn_name, scale=scale, fixed_theta=1.0,
  )
  return output.astype(_common.resolve_dtype(dtype, query, key, value))
