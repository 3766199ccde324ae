"""Entropy-equality linear attention (EALA): the public function and its forms.

Forms, side by side (one definition, several accumulations):

* :mod:`.naive` — the definition with the weights materialised (reference).
* :mod:`.parallel` — non-causal, `O(L)`: key statistics once, then per query.
* :mod:`.chunk` — causal, chunked-parallel (training).
* :mod:`.recurrent` — causal, one step at a time with an `O(1)` state (decoding).
* :mod:`.prefix` — the prefix-sum maths the causal forms share.
* :mod:`.forms` — picks the linear-time or the quadratic form (short sequences).
* :mod:`.theta` — the θ solve and non-negativity bound they all share.
"""

from __future__ import annotations

from typing import Any

from entropy_attention_jax import _checks
from entropy_attention_jax.attention import _common
from entropy_attention_jax.attention.eala.chunk import chunk_eala as chunk_eala
from entropy_attention_jax.attention.eala.forms import linear_weight_attention
from entropy_attention_jax.attention.eala.naive import naive_eala as naive_eala
from entropy_attention_jax.attention.eala.theta import EalaAux as EalaAux
from entropy_attention_jax.attention.eala.parallel import parallel_eala as parallel_eala
from entropy_attention_jax.attention.eala.recurrent import EalaState as EalaState
from entropy_attention_jax.attention.eala.recurrent import eala_step as eala_step
from entropy_attention_jax.attention.eala.recurrent import init_state as init_state
from entropy_attention_jax.attention.eala.recurrent import recurrent_eala as recurrent_eala
from entropy_attention_jax.entropy import estimators
from entropy_attention_jax.typing import Array, ArrayLike, Dtype, PrecisionLike, PRNGKey


def eala_attention(
    query: Array,
    key: Array,
    value: Array,
    bias: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    *,
    estimator: str | estimators.EntropyEstimator = "cumulant2",
    nonneg: bool | str = False,
    scale: float | None = None,
    theta_scale: float = 1.0,
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
  r"""Entropy-equality linear attention; time and memory `O(kv_len)`.

  Each query attends with weights linear in its scores,
  :math:`w_j = \frac1L(1 + θ_q (s_j - \bar s))`, whose sharpness θ_q is solved
  in closed form so that their entropy equals an estimate of the softmax
  attention entropy. The output :math:`\bar v + θ_q τ q^\top S` needs only key
  and value statistics; no `[q_len, kv_len]` array is formed.

  It accepts the keyword signature of Flax's `attention_fn`, so
  ``nnx.MultiHeadAttention(..., attention_fn=eala_attention)`` works; bind
  options with :func:`functools.partial`.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, heads, head_dim]`.
    value: `[batch..., kv_len, heads, v_dim]`.
    bias: must be None (an additive score bias cannot be linearised).
    mask: key-padding mask broadcastable to `[batch..., heads, 1, kv_len]`;
      True keeps a key. A `[q_len, kv_len]` pattern raises.
    estimator: a name in :data:`entropy_attention_jax.entropy.ESTIMATORS`
      (``"cumulant2"``, ``"gaussian_ensemble"``, ``"cumulant3"``) or an
      :class:`~entropy_attention_jax.entropy.EntropyEstimator`.
    nonneg: clamp θ to a linear-time bound so every weight is ≥ 0: True (the
      ``"anchored"`` bound, valid in every form) or ``"centered"`` (tighter,
      non-causal only); see :func:`~.theta.resolve_nonneg`.
    scale: score scale τ; defaults to `1 / sqrt(head_dim)`.
    theta_scale: multiplies θ*; > 1 sharper, < 1 flatter than entropy-matched.
    causal: query `i` attends to the keys `j ≤ i` only, with its own θ from
      the prefix statistics; row `i` equals non-causal EALA of query `i` over
      `key[..., :i + 1, :, :]`. Needs `q_len == kv_len`. Chunked-parallel
      (:func:`~.chunk.chunk_eala`); for decoding use :func:`eala_step`.
    is_causal: Flax's spelling of `causal`.
    chunk_size: chunk length of the causal form (memory `O(chunk²)` per head).
    implementation: ``"linear"`` (key statistics, `O(kv_len)`),
      ``"quadratic"`` (materialised weights) or None: the cheaper for these
      sizes — quadratic only when `q_len · kv_len < (q_len + kv_len) ·
      head_dim`, i.e. sequences shorter than about the head dimension. Both
      compute the same function.
    broadcast_dropout, dropout_rng: accepted for Flax compatibility.
    dropout_rate: must be 0 unless `deterministic` (see Raises).
    deterministic: Flax's flag; only matters for `dropout_rate`.
    dtype: output dtype; defaults to the promoted input dtype. Statistics are
      always accumulated in float32.
    precision: einsum precision.
    module: a Flax module; if given, sows `theta` and `entropy_target`, each
      `[batch..., q_len, heads]`.

  Returns:
    Output of shape `[batch..., q_len, heads, v_dim]`; a query with no valid
    key gives zeros.

  Raises:
    ValueError: mismatched shapes, a non-None `bias`, a general mask, an
      unknown estimator, or attention-weight dropout.

  References:
    Zhang, Yang, Zhu, Wang, Bai. Efficient Linear Attention for Multivariate
    Time Series Modeling via Entropy Equality. arXiv:2511.03190, 2025.
  """
  del broadcast_dropout, dropout_rng  # weight dropout is rejected below
  fn_name = "eala_attention"
  _checks.check_query_key(query, key, fn_name, value)
  _checks.reject_bias(bias, fn_name)
  _common.reject_weight_dropout(dropout_rate, deterministic, fn_name)
  key_mask = _checks.key_padding_mask(mask, query, key, fn_name)
  causal = causal or is_causal
  if causal:
    _common.check_causal_lengths(query, key, fn_name)
  output, aux = linear_weight_attention(
      query, key, value, key_mask=key_mask, causal=causal, implementation=implementation,
      chunk_size=chunk_size, precision=precision, fn_name=fn_name, estimator=estimator,
      nonneg=nonneg, scale=scale, theta_scale=theta_scale,
  )
  _common.sow(module, "theta", aux.theta)
  _common.sow(module, "entropy_target", aux.entropy_target)
  return output.astype(_common.resolve_dtype(dtype, query, key, value))
