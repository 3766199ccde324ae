"""Choosing the form that evaluates EALA: linear-time or quadratic.

Both compute the same function. The linear-time forms cost about
`(q_len + kv_len) · head_dim · (head_dim + v_dim)`, the quadratic one (the
materialised weights of :func:`~.naive.naive_eala`) about
`q_len · kv_len · (head_dim + v_dim)`; for sequences shorter than the head
dimension — ELinFormer's 12-step temporal attention with 38-dim heads — the
quadratic form is the cheaper one.
"""

from __future__ import annotations

from entropy_attention_jax.attention.eala import theta as theta_lib
from entropy_attention_jax.attention.eala.chunk import chunk_eala
from entropy_attention_jax.attention.eala.naive import naive_eala
from entropy_attention_jax.attention.eala.parallel import parallel_eala
from entropy_attention_jax.attention.eala.recurrent import EalaState
from entropy_attention_jax.typing import Array, PrecisionLike

IMPLEMENTATIONS = ("linear", "quadratic")


def choose_implementation(
    implementation: str | None, q_len: int, kv_len: int, head_dim: int, fn_name: str
) -> str:
  """`implementation`, or for None the cheaper form for these (static) sizes.

  Raises:
    ValueError: an unknown implementation name.
  """
  if implementation is None:
    return "quadratic" if q_len * kv_len < (q_len + kv_len) * head_dim else "linear"
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(
        f"{fn_name}: implementation must be None (automatic) or one of"
        f" {IMPLEMENTATIONS}, got {implementation!r}."
    )
  return implementation


def linear_weight_attention(
    query: Array,
    key: Array,
    value: Array,
    *,
    key_mask: Array | None,
    causal: bool,
    implementation: str | None,
    chunk_size: int,
    precision: PrecisionLike,
    fn_name: str,
    segment_ids: Array | None = None,
    initial_state: EalaState | None = None,
    needs_state: bool = False,
    **options,
) -> tuple[Array, theta_lib.EalaAux, EalaState | None]:
  """EALA (or, with `fixed_theta`, Taylor) attention by the chosen form; float32.

  Args:
    query, key, value, key_mask: as :func:`~.parallel.parallel_eala`.
    causal: query `i` sees keys `j ≤ i`.
    implementation: ``"linear"``, ``"quadratic"`` or None (cheaper of the two;
      always linear when a state goes in or out).
    chunk_size: chunk length of the causal linear-time form.
    precision: einsum precision.
    fn_name: the public function, for error messages.
    segment_ids: optional `[batch..., length]` packed-sequence ids (causal).
    initial_state: optional :class:`EalaState` to continue from (causal).
    needs_state: return the final state (causal).
    **options: `estimator`, `nonneg`, `scale`, `theta_scale`, `fixed_theta`,
      `theta_solve`.

  Returns:
    `(output, aux, final_state)`; final_state is None unless the causal
    linear-time form ran.

  Raises:
    ValueError: an unknown implementation, or ``"quadratic"`` with a state.
  """
  stateful = initial_state is not None or needs_state
  if stateful and implementation == "quadratic":
    raise ValueError(
        f"{fn_name}: implementation='quadratic' carries no state; use"
        " implementation='linear' (or None) with initial_state / output_final_state."
    )
  form = "linear" if stateful else choose_implementation(
      implementation, query.shape[-3], key.shape[-3], query.shape[-1], fn_name
  )
  if form == "quadratic":
    output, _, aux = naive_eala(
        query, key, value, key_mask=key_mask, causal=causal, segment_ids=segment_ids,
        precision=precision, **options,
    )
    return output, aux, None
  if causal:
    return chunk_eala(
        query, key, value, key_mask=key_mask, chunk_size=chunk_size, precision=precision,
        segment_ids=segment_ids, initial_state=initial_state, **options,
    )
  output, aux = parallel_eala(query, key, value, key_mask=key_mask, precision=precision, **options)
  return output, aux, None
