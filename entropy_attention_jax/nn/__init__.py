"""Flax NNX layers: attention with a selectable kind, blocks, embeddings, diagnostics."""

from entropy_attention_jax._optional import require as _require

# One clear line, naming the extra, when a library of this package is missing.
_require("flax", "nn", "for the Flax layers (entropy_attention_jax.nn)")

from entropy_attention_jax.nn.attention import EntropyLinearAttention as EntropyLinearAttention
from entropy_attention_jax.nn.attention import PerformerFeatures as PerformerFeatures
from entropy_attention_jax.nn.blocks import FeedForward as FeedForward
from entropy_attention_jax.nn.blocks import TransformerBlock as TransformerBlock
from entropy_attention_jax.nn.diagnostics import (
    capture_attention_diagnostics as capture_attention_diagnostics,
)
from entropy_attention_jax.nn.diagnostics import (
    summarize_attention_diagnostics as summarize_attention_diagnostics,
)
from entropy_attention_jax.nn.embeddings import AdaptiveEmbedding as AdaptiveEmbedding
from entropy_attention_jax.nn.embeddings import PeriodicEmbedding as PeriodicEmbedding

__all__ = [
    "AdaptiveEmbedding",
    "EntropyLinearAttention",
    "FeedForward",
    "PerformerFeatures",
    "PeriodicEmbedding",
    "TransformerBlock",
    "capture_attention_diagnostics",
    "summarize_attention_diagnostics",
]
