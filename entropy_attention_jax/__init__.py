"""entropy_attention_jax: entropy-equality linear attention (EALA) in JAX.

The pure functions (entropy estimators, attention kinds), the Flax layer
`EntropyLinearAttention` and the ELinFormer forecaster are re-exported here;
data loading and training live in `entropy_attention_jax.data` and
`entropy_attention_jax.training` and are imported on demand.

Importing this package loads only JAX and NumPy: the Flax names
(`EntropyLinearAttention`, `ELinFormer`, `ELinFormerConfig`) are resolved on
first access (PEP 562), so the pure functions work with the core install and
the layers need the `nn` extra.
"""

from entropy_attention_jax.attention import ATTENTION_FUNCTIONS as ATTENTION_FUNCTIONS
from entropy_attention_jax.attention import EalaAux as EalaAux
from entropy_attention_jax.attention import EalaState as EalaState
from entropy_attention_jax.attention import LinearAttentionState as LinearAttentionState
from entropy_attention_jax.attention import attention_weights as attention_weights
from entropy_attention_jax.attention import chunk_eala as chunk_eala
from entropy_attention_jax.attention import eala_attention as eala_attention
from entropy_attention_jax.attention import eala_step as eala_step
from entropy_attention_jax.attention import get_attention_fn as get_attention_fn
from entropy_attention_jax.attention import init_eala_state as init_eala_state
from entropy_attention_jax.attention import init_linear_state as init_linear_state
from entropy_attention_jax.attention import init_state as init_state
from entropy_attention_jax.attention import linear_attention as linear_attention
from entropy_attention_jax.attention import performer_attention as performer_attention
from entropy_attention_jax.attention import performer_features as performer_features
from entropy_attention_jax.attention import softmax_attention as softmax_attention
from entropy_attention_jax.attention import taylor_attention as taylor_attention
from entropy_attention_jax.entropy import ESTIMATORS as ESTIMATORS
from entropy_attention_jax.entropy import EntropyEstimator as EntropyEstimator
from entropy_attention_jax.entropy import approx_entropy as approx_entropy
from entropy_attention_jax.entropy import softmax_entropy as softmax_entropy

__version__ = "0.1.0"

# Names that need Flax, by the module that defines them; see `__getattr__`.
_LAZY: dict[str, str] = {
    "ELinFormer": "entropy_attention_jax.models",
    "ELinFormerConfig": "entropy_attention_jax.models",
    "EntropyLinearAttention": "entropy_attention_jax.nn",
}


def __getattr__(name: str):
  """Imports the Flax-backed names on first use (PEP 562)."""
  if name in _LAZY:
    import importlib  # pylint: disable=g-import-not-at-top

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # Later look-ups skip this function.
    return value
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted({*globals(), *_LAZY})

__all__ = [
    "ATTENTION_FUNCTIONS",
    "ELinFormer",
    "ELinFormerConfig",
    "ESTIMATORS",
    "EalaAux",
    "EalaState",
    "EntropyEstimator",
    "EntropyLinearAttention",
    "LinearAttentionState",
    "approx_entropy",
    "attention_weights",
    "chunk_eala",
    "eala_attention",
    "eala_step",
    "get_attention_fn",
    "init_eala_state",
    "init_linear_state",
    "init_state",
    "linear_attention",
    "performer_attention",
    "performer_features",
    "softmax_attention",
    "softmax_entropy",
    "taylor_attention",
]
