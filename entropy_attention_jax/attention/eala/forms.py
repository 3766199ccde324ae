"""Choosing the form that evaluates EALA: linear-time or quadratic.

Both compute the same function. The linear-time forms cost about
`(q_len + kv_len) · head_dim · (head_dim + v_dim)`, the quadratic one (the
materialised weights of :func:`~.naive.naive_eala`) about
`q_len · kv_len · (head_dim + v_dim)`; for sequences shorter than the head
dimension — ELinFormer's 12-step temporal attention with 38-dim heads — the
quadratic form is the cheaper one.
"""

from __future__ import annotations

import warnings

from entropy_attention_jax.attention._common import AttentionResult
from entropy_attention_jax.attention.eala.chunk import chunk_eala
from entropy_attention_jax.attention.eala.naive import naive_eala
from entropy_attention_jax.attention.eala.parallel import parallel_eala
from entropy_attention_jax.attention.eala.recurrent import EalaState
from entropy_attention_jax.typing import Array, PrecisionLike

FORMS = ("linear", "quadratic")
# `implementation` keeps `jax.nn.dot_product_attention`'s meaning (the backend);
# EALA is plain XLA, the one backend it has.
IMPLEMENTATIONS = (None, "xla")


def resolve_form(form: str | None, implementation: str | None, fn_name: str) -> str | None:
  """`form` (None: automatic), accepting the released spelling `implementation="linear"`.

  Raises:
    ValueError: an unknown form or implementation, or two forms that disagree.
  """
  if implementation in FORMS:
    warnings.warn(
        f"{fn_name}: implementation={implementation!r} is deprecated; the linear/quadratic"
        f" choice is now form={implementation!r} (implementation keeps"
        " jax.nn.dot_product_attention's meaning, the backend).",
        DeprecationWarning, stacklevel=3,
    )
    if form is not None and form != implementation:
      raise ValueError(
          f"{fn_name}: form={form!r} and the deprecated implementation={implementation!r}"
          " disagree; pass form only."
      )
    form = implementation
  elif implementation not in IMPLEMENTATIONS:
    raise ValueError(
        f"{fn_name}: implementation must be one of {IMPLEMENTATIONS} (EALA runs on XLA),"
        f" got {implementation!r}; the linear/quadratic choice is `form`."
    )
  if form is not None and form not in FORMS:
    raise ValueError(
        f"{fn_name}: form must be None (automatic) or one of {FORMS}, got {form!r}."
    )
  return form


def choose_form(form: str | None, q_len: int, kv_len: int, head_dim: int, fn_name: str) -> str:
  """`form`, or for None the cheaper form for these (static) sizes.

  Raises:
    ValueError: an unknown form name.
  """
  if form is None:
    return "quadratic" if q_len * kv_len < (q_len + kv_len) * head_dim else "linear"
  if form not in FORMS:
    raise ValueError(
        f"{fn_name}: form must be None (automatic) or one of {FORMS}, got {form!r}."
    )
  return form


def linear_weight_attention(
    query: Array,
    key: Array,
    value: Array,
    *,
    key_mask: Array | None,
    causal: bool,
    form: str | None,
    chunk_size: int,
    precision: PrecisionLike,
    fn_name: str,
    segment_ids: Array | None = None,
    initial_state: EalaState | None = None,
    output_final_state: bool = False,
    **options,
) -> AttentionResult:
  """EALA (or, with `fixed_theta`, Taylor) attention by the chosen form; float32.

  Args:
    query, key, value, key_mask: as :func:`~.parallel.parallel_eala`.
    causal: query `i` sees keys `j ≤ i`.
    form: ``"linear"``, ``"quadratic"`` or None (cheaper of the two; always
      linear when a state goes in or out).
    chunk_size: chunk length of the causal linear-time form.
    precision: einsum precision.
    fn_name: the public function, for error messages.
    segment_ids: optional `[batch..., length]` packed-sequence ids (causal).
    initial_state: optional :class:`EalaState` to continue from (causal).
    output_final_state: return the final state (causal).
    **options: `estimator`, `nonneg`, `scale`, `theta_scale`, `fixed_theta`,
      `theta_solve`.

  Returns:
    An :class:`AttentionResult`; its final state is None unless the causal
    linear-time form ran with `output_final_state`.

  Raises:
    ValueError: an unknown form, or ``"quadratic"`` with a state.
  """
  stateful = initial_state is not None or output_final_state
  if stateful and form == "quadratic":
    raise ValueError(
        f"{fn_name}: form='quadratic' carries no state; use"
        " form='linear' (or None) with initial_state / output_final_state."
    )
  form = "linear" if stateful else choose_form(
      form, query.shape[-3], key.shape[-3], query.shape[-1], fn_name
  )
  if form == "quadratic":
    return naive_eala(
        query, key, value, key_mask=key_mask, causal=causal, segment_ids=segment_ids,
        precision=precision, **options,
    )
  if causal:
    return chunk_eala(
        query, key, value, key_mask=key_mask, chunk_size=chunk_size, precision=precision,
        segment_ids=segment_ids, initial_state=initial_state,
        output_final_state=output_final_state, **options,
    )
  return parallel_eala(query, key, value, key_mask=key_mask, precision=precision, **options)
