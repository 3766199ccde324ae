"""The attention kinds, one file each, found here: :data:`KINDS`.

A kind is an :class:`AttentionKind` record named `KIND` in a module of this
package; adding a kind is adding one module. Everything that offers a choice
of attention (the registry, `EntropyLinearAttention`, `ELinFormerConfig`, the
CLI) reads :data:`KINDS` and checks names with :func:`get_kind`.
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from typing import Mapping

from entropy_attention_jax.attention.kinds._kind import AttentionKind as AttentionKind
from entropy_attention_jax.attention.kinds._kind import FixedParameter as FixedParameter


def _discover() -> dict[str, AttentionKind]:
  found = {}
  for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if module_info.name.startswith("_"):
      continue
    kind = importlib.import_module(f"{__name__}.{module_info.name}").KIND
    found[kind.name] = kind
  return found


KINDS: Mapping[str, AttentionKind] = types.MappingProxyType(_discover())


def get_kind(name: str, owner: str = "get_attention_fn", argument: str = "kind") -> AttentionKind:
  """The record of kind `name`.

  Args:
    name: a kind name.
    owner, argument: who asks and under which argument, for the message.

  Raises:
    ValueError: an unknown kind, naming the known ones.
  """
  if isinstance(name, str) and name in KINDS:
    return KINDS[name]
  raise ValueError(
      f"{owner}: unknown {argument}={name!r}; expected one of {sorted(KINDS)}."
  )


__all__ = ["KINDS", "AttentionKind", "FixedParameter", "get_kind"]
