"""Attention functions sharing Flax's `attention_fn` signature.

Shapes follow `jax.nn.dot_product_attention`: `[batch..., length, heads, depth]`.
The kinds on offer are the records of :mod:`.kinds` (:data:`ATTENTION_KINDS`);
every form returns an :class:`AttentionResult` (output, aux, final_state).
"""

from entropy_attention_jax.attention._common import AttentionResult as AttentionResult
from entropy_attention_jax.attention.eala import EalaAux as EalaAux
from entropy_attention_jax.attention.eala import EalaState as EalaState
from entropy_attention_jax.attention.eala import chunk_eala as chunk_eala
from entropy_attention_jax.attention.eala import eala_attention as eala_attention
from entropy_attention_jax.attention.eala import eala_step as eala_step
from entropy_attention_jax.attention.eala import eala_weights as eala_weights
from entropy_attention_jax.attention.eala import init_eala_state as init_eala_state
from entropy_attention_jax.attention.eala import init_state as init_state
from entropy_attention_jax.attention.eala import naive_eala as naive_eala
from entropy_attention_jax.attention.eala import parallel_eala as parallel_eala
from entropy_attention_jax.attention.eala import recurrent_eala as recurrent_eala
from entropy_attention_jax.attention.kinds import KINDS as ATTENTION_KINDS
from entropy_attention_jax.attention.kinds import AttentionKind as AttentionKind
from entropy_attention_jax.attention.kinds import get_kind as get_kind
from entropy_attention_jax.attention.linear import LinearAttentionState as LinearAttentionState
from entropy_attention_jax.attention.linear import elu_feature_map as elu_feature_map
from entropy_attention_jax.attention.linear import init_linear_state as init_linear_state
from entropy_attention_jax.attention.linear import linear_attention as linear_attention
from entropy_attention_jax.attention.performer import performer_attention as performer_attention
from entropy_attention_jax.attention.performer import performer_features as performer_features
from entropy_attention_jax.attention.registry import ATTENTION_FUNCTIONS as ATTENTION_FUNCTIONS
from entropy_attention_jax.attention.registry import attention_weights as attention_weights
from entropy_attention_jax.attention.registry import get_attention_fn as get_attention_fn
from entropy_attention_jax.attention.softmax import softmax_attention as softmax_attention
from entropy_attention_jax.attention.softmax import softmax_weights as softmax_weights
from entropy_attention_jax.attention.taylor import taylor_attention as taylor_attention

__all__ = [
    "ATTENTION_FUNCTIONS",
    "ATTENTION_KINDS",
    "AttentionKind",
    "AttentionResult",
    "EalaAux",
    "EalaState",
    "LinearAttentionState",
    "attention_weights",
    "chunk_eala",
    "eala_attention",
    "eala_step",
    "eala_weights",
    "elu_feature_map",
    "get_attention_fn",
    "get_kind",
    "init_eala_state",
    "init_linear_state",
    "init_state",
    "linear_attention",
    "naive_eala",
    "parallel_eala",
    "performer_attention",
    "performer_features",
    "recurrent_eala",
    "softmax_attention",
    "softmax_weights",
    "taylor_attention",
]
