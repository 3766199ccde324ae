"""Forecasters built from the `nn` layers, their summaries and checkpoints."""

from entropy_attention_jax._optional import require as _require

# One clear line, naming the extra, when a library of this package is missing.
_require("flax", "nn", "for the ELinFormer model (entropy_attention_jax.models)")
_require(
    "orbax.checkpoint", "nn",
    "to save and restore models (entropy_attention_jax.models)", "orbax-checkpoint",
)

from entropy_attention_jax.models.checkpointing import abstract_elinformer as abstract_elinformer
from entropy_attention_jax.models.checkpointing import model_variables as model_variables
from entropy_attention_jax.models.checkpointing import restore_model as restore_model
from entropy_attention_jax.models.checkpointing import save_model as save_model
from entropy_attention_jax.models.elinformer import ELinFormer as ELinFormer
from entropy_attention_jax.models.elinformer import ELinFormerConfig as ELinFormerConfig
from entropy_attention_jax.models.summary import describe as describe
from entropy_attention_jax.models.summary import parameter_count as parameter_count
from entropy_attention_jax.models.summary import parameter_counts as parameter_counts

__all__ = [
    "ELinFormer",
    "ELinFormerConfig",
    "abstract_elinformer",
    "describe",
    "model_variables",
    "parameter_count",
    "parameter_counts",
    "restore_model",
    "save_model",
]
