"""Dotted-key overrides of a config: ``section.key=value``, each type-checked.

`with_overrides` is what ``--set`` and the size overlays go through; values
are converted by :mod:`.coercion` to the field's annotation in :mod:`.schema`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from entropy_attention_jax.training.config.coercion import (
    check,
    coerce,
    field_types,
    parse_literal,
)
from entropy_attention_jax.training.config.schema import (
    DATA_DERIVED_MODEL_FIELDS,
    SECTION_TYPES,
    SECTIONS,
    ExperimentConfig,
    model_field_type,
)


def with_overrides(
    config: ExperimentConfig, overrides: Sequence[str] | Mapping[str, Any]
) -> ExperimentConfig:
  """`config` with dotted-key overrides applied, each type-checked.

  Args:
    config: the starting config.
    overrides: ``"section.key=value"`` strings (values parsed for the key's
      type: ``train.epochs=5``, ``optim.milestones=10,20``,
      ``model.dtype=none``) or a `{"section.key": value}` mapping. A key one
      level into a mapping field sets one entry
      (``model.attention_options.estimator=gaussian_ensemble``,
      ``data.builder_options.nodes=30``; values parsed as JSON literals).

  Returns:
    A new `ExperimentConfig`.

  Raises:
    ConfigError: a malformed override, unknown key, wrong type, or a model
      key the data determines.
  """
  if isinstance(overrides, Mapping):
    items = list(overrides.items())
  else:
    items = []
    for text in overrides:
      key, sep, value = text.partition("=")
      check(bool(sep) and bool(key.strip()), f"an override must be key=value, got {text!r}.")
      items.append((key.strip(), value))
  sections = {
      "data": dataclasses.asdict(config.data), "model": dict(config.model),
      "optim": dataclasses.asdict(config.optim), "train": dataclasses.asdict(config.train),
  }
  for key, value in items:
    section, *path = key.split(".")
    check(
        section in SECTIONS and 1 <= len(path) <= 2,
        f"override key {key!r} must be section.key or section.key.entry with a section in"
        f" {list(SECTIONS)}.",
    )
    name = path[0]
    if section == "model":
      check(
          name not in DATA_DERIVED_MODEL_FIELDS,
          f"model.{name} is set from the data; set data.in_steps, data.out_steps or the"
          " dataset instead.",
      )
      hint = model_field_type(name)
    else:
      hints = field_types(SECTION_TYPES[section])
      check(name in hints, f"unknown key {section}.{name}; {section} has {sorted(hints)}.")
      hint = hints[name]
    if len(path) == 2:
      check(
          typing.get_origin(hint) in (Mapping, dict),
          f"{section}.{name} is not a mapping; {key!r} cannot set an entry of it.",
      )
      entry = parse_literal(value) if isinstance(value, str) else value
      sections[section][name] = {**(sections[section].get(name) or {}), path[1]: entry}
    else:
      sections[section][name] = coerce(value, hint, f"{section}.{name}")
  return ExperimentConfig.from_dict(sections)
