r"""First-order Taylor attention: EALA's linear weights with θ ≡ 1.

:math:`w_j = \frac1L(1 + (s_j - \bar s))` is the first-order expansion of
softmax around uniform weights. It is the ablation that isolates what the
entropy-matched θ of :func:`~entropy_attention_jax.attention.eala_attention`
adds.
"""

from __future__ import annotations

from typing import Any

from entropy_attention_jax.attention import _common
from entropy_attention_jax.attention.eala import forms
from entropy_attention_jax.attention.eala.forms import linear_weight_attention
from entropy_attention_jax.attention.eala.recurrent import EalaState
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
  """Linear attention with weights `(1 + s_j - mean(s)) / L`; `O(kv_len)`.

  Args and Returns: as :func:`~entropy_attention_jax.attention.eala_attention`
  (no estimator: θ is fixed at 1, so weights can be negative); the state is
  an :class:`EalaState`.
  """
  del module
  fn_name = "taylor_attention"
  form = forms.resolve_form(form, implementation, fn_name)

  def core(query, key, value, *, key_mask, causal, segment_ids, initial_state):
    return linear_weight_attention(
        query, key, value, key_mask=key_mask, causal=causal, form=form,
        chunk_size=chunk_size, precision=precision, fn_name=fn_name, segment_ids=segment_ids,
        initial_state=initial_state, output_final_state=output_final_state, scale=scale,
        fixed_theta=1.0,
    )

  output, _, final_state = _common.linear_time_attention(
      core, query, key, value, fn_name=fn_name,
      **_common.front_end_arguments(locals()),
  )

  return (output, final_state) if output_final_state else output
