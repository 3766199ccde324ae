"""Parameter counts and a one-screen description of an NNX model."""

from __future__ import annotations

import math

import jax
from flax import nnx

# Variables that are neither trained nor part of the model's function.
_BOOKKEEPING = nnx.Any(nnx.Param, nnx.RngState, nnx.Intermediate)


def _size(state: nnx.State) -> int:
  # math.prod(shape) also counts abstract (nnx.eval_shape) models.
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(state))


def parameter_count(model: nnx.Module) -> int:
  """Number of trainable values (`nnx.Param` entries) in `model`."""
  return _size(nnx.state(model, nnx.Param))


def parameter_counts(model: nnx.Module) -> dict[str, int]:
  """Trainable values per top-level attribute of `model`, in name order."""
  params = nnx.state(model, nnx.Param)
  return {str(name): _size(params[name]) for name in sorted(params, key=str)}


def describe(model: nnx.Module) -> str:
  """A table of parameter counts: total and per top-level submodule.

  Fixed, untrained variables (e.g. Performer's random features) are listed
  apart. Works on concrete and on abstract (``nnx.eval_shape``) models.

  Example::

    print(describe(model))

  Returns:
    Multi-line text.
  """
  counts = parameter_counts(model)
  width = max([len(name) for name in counts] + [len("total")])
  lines = [f"{type(model).__name__}: {parameter_count(model):,} parameters"]
  lines += [f"  {name:<{width}}  {count:>12,}" for name, count in counts.items()]
  fixed = _size(nnx.state(model, nnx.Not(_BOOKKEEPING)))
  if fixed:
    lines.append(f"  fixed (untrained) values: {fixed:,}")
  return "\n".join(lines)
