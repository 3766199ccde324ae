"""Shared pytest fixtures and helpers for the test suite."""

from __future__ import annotations

import os

# The tests compile many small programs and run each a few times, so on a CPU
# XLA's LLVM optimisation passes take most of their time; without them the
# attention tests run about twice as fast, computing the same values (fast-math
# is off either way). Set before JAX starts its backend; the subprocesses the
# tests start (CLI, experiments) inherit it. Flags already in XLA_FLAGS come
# after these, so they win.
FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
os.environ["XLA_FLAGS"] = f"{FAST_COMPILE_FLAGS} {os.environ.get('XLA_FLAGS', '')}".strip()

import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import pytest


def gaussian_qkv(
    seed: int,
    *,
    batch: tuple[int, ...] = (2,),
    q_len: int = 16,
    kv_len: int = 24,
    heads: int = 2,
    head_dim: int = 8,
    v_dim: int | None = None,
    score_scale: float = 1.0,
    dtype=jnp.float32,
):
  """Gaussian query/key/value; queries scaled so the score spread is ~`score_scale`."""
  rng = np.random.default_rng(seed)
  v_dim = head_dim if v_dim is None else v_dim
  query = rng.standard_normal((*batch, q_len, heads, head_dim)) * score_scale
  key = rng.standard_normal((*batch, kv_len, heads, head_dim))
  value = rng.standard_normal((*batch, kv_len, heads, v_dim))
  return tuple(jnp.asarray(x, dtype) for x in (query, key, value))


def reference_scores(query, key, scale=None) -> np.ndarray:
  """float64 scores `[batch..., heads, q_len, kv_len]`."""
  query, key = np.asarray(query, np.float64), np.asarray(key, np.float64)
  scale = query.shape[-1] ** -0.5 if scale is None else scale
  return scale * np.einsum("...qhd,...khd->...hqk", query, key)


def reference_entropy(scores: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
  """float64 softmax entropy over the last axis, `[..., q_len]`; 0 with no valid key."""
  valid = np.ones(scores.shape, bool) if valid is None else np.broadcast_to(valid, scores.shape)
  masked = np.where(valid, scores, -np.inf)
  top = np.max(masked, -1, keepdims=True)
  top = np.where(np.isfinite(top), top, 0.0)
  exp = np.where(valid, np.exp(masked - top), 0.0)
  total = exp.sum(-1, keepdims=True)
  probs = exp / np.where(total > 0, total, 1.0)
  log_probs = np.where(probs > 0, np.log(np.where(probs > 0, probs, 1.0)), 0.0)
  return -(probs * log_probs).sum(-1)


@pytest.fixture
def qkv():
  return gaussian_qkv(0)
