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

from entropy_attention_jax.attention import _common
from entropy_attention_jax.attention.eala.chunk import chunk_eala as chunk_eala
from entropy_attention_jax.attention.eala import forms
from entropy_attention_jax.attention.eala.forms import linear_weight_attention
from entropy_attention_jax.attention.eala.naive import eala_weights as eala_weights
from entropy_attention_jax.attention.eala.naive import naive_eala as naive_eala
from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.attention.eala.theta import EalaAux as EalaAux
from entropy_attention_jax.attention.eala.parallel import parallel_eala as parallel_eala
from entropy_attention_jax.attention.eala.recurrent import EalaState as EalaState
from entropy_attention_jax.attention.eala.recurrent import eala_step as eala_step
from entropy_attention_jax.attention.eala.recurrent import init_eala_state as init_eala_state
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
    theta_solve: str = "second_order",
    causal: bool = False,
    is_causal: bool = False,
    key_padding_mask: ArrayLike | None = None,
    query_seq_lengths: ArrayLike | None = None,
    key_value_seq_lengths: ArrayLike | None = None,
    mask_structure: str | None = None,
    segment_ids: ArrayLike | None = None,
    initial_state: EalaState | None = None,
    output_final_state: bool = False,
    chunk_size: int = 64,
    form: str | None = None,
    implementation: str | None = None,
    dropout_mode: str = "output",
    broadcast_dropout: bool = True,
    dropout_rng: PRNGKey | None = None,
    dropout_rate: float = 0.0,
    deterministic: bool = False,
    dtype: Dtype | None = None,
    precision: PrecisionLike = None,
    module: Any = None,
) -> Array | tuple[Array, EalaState]:
  r"""Entropy-equality linear attention; time and memory `O(kv_len)`.

  Each query attends with weights linear in its scores,
  :math:`w_j = \frac1L(1 + θ_q (s_j - \bar s))`, whose sharpness θ_q is solved
  in closed form so that their entropy equals an estimate of the softmax
  attention entropy. The output :math:`\bar v + θ_q τ q^\top S` needs only key
  and value statistics; no `[q_len, kv_len]` array is formed.

  With the default ``estimator="cumulant2"`` the target is
  `log L − σ²/2`, which gives θ = 1 exactly wherever it is not clamped at 0
  (σ² ≤ 2 log L): EALA then *equals* :func:`taylor_attention`, and differs
  from it only for peaked queries. ``"gaussian_ensemble"`` is the estimator
  that changes θ across the range (see docs/attention.md, "which estimator
  when").

  It accepts the keyword signature of Flax's `attention_fn`, so
  ``nnx.MultiHeadAttention(..., attention_fn=eala_attention)`` works, with
  `num_kv_heads` too; bind options with :func:`functools.partial`.

  Args:
    query: `[batch..., q_len, heads, head_dim]`.
    key: `[batch..., kv_len, kv_heads, head_dim]`; `kv_heads` divides `heads`
      (grouped-query / multi-query attention: query head `h` uses key head
      `h // (heads // kv_heads)`, whose statistics are computed once).
    value: `[batch..., kv_len, kv_heads, v_dim]`.
    bias: must be None (an additive score bias cannot be linearised).
    mask: boolean, broadcastable to `[batch..., heads, q_len, kv_len]`, True
      keeps a pair. It must factorise as query validity x key validity
      (``nnx.make_attention_mask(q_pad, k_pad)``, a key mask broadcast over
      the queries), optionally times a causal mask (``make_causal_mask``,
      which selects the causal form). A concrete mask is checked exactly; a
      traced one must have a singleton query axis unless `mask_structure`
      says which form it has. Anything else raises, saying what would work.
    estimator: a name in :data:`entropy_attention_jax.entropy.ESTIMATORS`
      (``"cumulant2"``, ``"gaussian_ensemble"``, ``"cumulant3"``) or an
      :class:`~entropy_attention_jax.entropy.EntropyEstimator`.
    nonneg: clamp θ to a linear-time bound so every weight is ≥ 0: True (the
      ``"anchored"`` bound, valid in every form) or ``"centered"`` (tighter,
      non-causal only); see :func:`~.theta.resolve_nonneg`.
    scale: score scale τ; defaults to `1 / sqrt(head_dim)`.
    theta_scale: multiplies θ*; > 1 sharper, < 1 flatter than entropy-matched.
    theta_solve: which entropy of the linear weights is equated to Ĥ:
      ``"second_order"`` (`log L − θ²σ²/2`, the paper's) or ``"fourth_order"``
      (`log L − t²/2 + γt³/6 − t⁴/4`, `t = θσ`, γ the score skewness when the
      estimator computes κ₃), which keeps the weights' actual entropy closer
      to Ĥ and gives θ < 1 with ``"cumulant2"`` (so EALA is no longer Taylor
      attention); see :func:`~.theta.fourth_order_theta`.
    causal: query `i` attends to the keys `j ≤ i` only, with its own θ from
      the prefix statistics; row `i` equals non-causal EALA of query `i` over
      `key[..., :i + 1, :, :]`. Needs `q_len == kv_len`. Chunked-parallel
      (:func:`~.chunk.chunk_eala`); for decoding use :func:`eala_step`.
    is_causal: Flax's spelling of `causal`.
    key_padding_mask: boolean `[batch..., kv_len]`; False drops a key.
    query_seq_lengths, key_value_seq_lengths: int `[batch...]`, as in
      `jax.nn.dot_product_attention`: positions at or past the length are
      padding (queries: zero rows; keys: dropped).
    mask_structure: for a traced `mask`: ``"padding"`` (it is query validity x
      key validity) or ``"causal_padding"`` (that times a causal mask).
    segment_ids: integer `[batch..., length]` for packed sequences (causal
      only): a query sees the earlier keys of its own contiguous segment, so
      each segment equals a call of its own.
    initial_state: an :class:`EalaState` (per key head) to continue from
      (causal only), e.g. the final state of the previous chunk.
    output_final_state: also return the state after the last key (causal).
    chunk_size: chunk length of the causal form (memory `O(chunk²)` per head).
    form: ``"linear"`` (key statistics, `O(kv_len)`), ``"quadratic"``
      (materialised weights) or None: the cheaper for these sizes — quadratic
      only when `q_len · kv_len < (q_len + kv_len) · head_dim`, i.e. sequences
      shorter than about the head dimension, and never when a state goes in or
      out. Both compute the same function.
    implementation: as in `jax.nn.dot_product_attention`, the backend: None or
      ``"xla"`` (the only one EALA has). The released spelling
      ``implementation="linear"`` / ``"quadratic"`` still works, with a
      DeprecationWarning, as `form`.
    dropout_mode: what `dropout_rate > 0` drops, since the weights are never
      formed: ``"output"`` (inverted dropout on the attention output entries)
      or ``"keys"`` (whole keys before the statistics; the weights renormalise
      over the kept keys).
    broadcast_dropout: share the dropout mask across the batch and head axes.
    dropout_rng: PRNG key; needed when dropout is active.
    dropout_rate: dropout probability (0 disables).
    deterministic: Flax's flag; True disables dropout.
    dtype: output dtype; defaults to the promoted input dtype. Statistics are
      always accumulated in float32.
    precision: einsum precision.
    module: a Flax module; if given, sows `theta` and `entropy_target`, each
      `[batch..., q_len, heads]`.

  Returns:
    Output of shape `[batch..., q_len, heads, v_dim]`; a query with no valid
    key, and a padded query (per `mask` or `query_seq_lengths`), gives zeros.
    With `output_final_state`, `(output, final_state)`.

  Raises:
    ValueError: mismatched shapes, a non-None `bias`, a mask that cannot be
      linearised, an unknown estimator, a state without `causal`, or dropout
      without a `dropout_rng`.

  References:
    Zhang, Yang, Zhu, Wang, Bai. Efficient Linear Attention for Multivariate
    Time Series Modeling via Entropy Equality. arXiv:2511.03190, 2025.
  """
  fn_name = "eala_attention"
  theta_lib.check_theta_solve(theta_solve, fn_name)
  form = forms.resolve_form(form, implementation, fn_name)

  def core(query, key, value, *, key_mask, causal, segment_ids, initial_state):
    return linear_weight_attention(
        query, key, value, key_mask=key_mask, causal=causal, form=form,
        chunk_size=chunk_size, precision=precision, fn_name=fn_name, segment_ids=segment_ids,
        initial_state=initial_state, output_final_state=output_final_state, estimator=estimator,
        nonneg=nonneg, scale=scale, theta_scale=theta_scale, theta_solve=theta_solve,
    )

  output, aux, final_state = _common.linear_time_attention(
      core, query, key, value, fn_name=fn_name,
      **_common.front_end_arguments(locals()),
  )

  _common.sow(module, "theta", aux.theta)
  _common.sow(module, "entropy_target", aux.entropy_target)
  return (output, final_state) if output_final_state else output
