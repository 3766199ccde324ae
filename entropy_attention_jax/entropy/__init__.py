"""Entropy of softmax attention: the exact reference and linear-time estimators."""

from entropy_attention_jax.entropy.ensemble import EnsembleTable as EnsembleTable
from entropy_attention_jax.entropy.ensemble import expected_entropy as expected_entropy
from entropy_attention_jax.entropy import ensemble as ensemble
from entropy_attention_jax.entropy.estimators import ESTIMATORS as ESTIMATORS
from entropy_attention_jax.entropy.estimators import EntropyEstimator as EntropyEstimator
from entropy_attention_jax.entropy.estimators import approx_entropy as approx_entropy
from entropy_attention_jax.entropy.estimators import get_estimator as get_estimator
from entropy_attention_jax.entropy.exact import softmax_entropy as softmax_entropy
from entropy_attention_jax.entropy.stats import KeyStatistics as KeyStatistics
from entropy_attention_jax.entropy.stats import ScoreMoments as ScoreMoments
from entropy_attention_jax.entropy.stats import key_statistics as key_statistics
from entropy_attention_jax.entropy.stats import score_moments as score_moments

__all__ = [
    "ESTIMATORS",
    "EnsembleTable",
    "EntropyEstimator",
    "KeyStatistics",
    "ScoreMoments",
    "approx_entropy",
    "expected_entropy",
    "get_estimator",
    "key_statistics",
    "score_moments",
    "softmax_entropy",
]
