"""Values (or their text, from ``--set key=value``) converted to a field's type.

One function, :func:`coerce`, turns a value into the type of a config field's
annotation (bool, int, float, str, `X | None`, `tuple[X, ...]`, mappings and
`Any`), or raises one :class:`ConfigError` naming the key and the expected
type. It is what makes ``train.epochs=5``, ``optim.milestones=10,20`` and a
stored ``config.json`` all land as the same typed values.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
  """A configuration key or value that cannot be used."""


def check(condition: bool, message: str) -> None:
  """Raises `ConfigError(message)` unless `condition`."""
  if not condition:
    raise ConfigError(message)


def plain(value: Any) -> Any:
  """`value` with mappings as str-keyed dicts and tuples as lists (JSON's shapes)."""
  if isinstance(value, Mapping):
    return {str(k): plain(v) for k, v in value.items()}
  if isinstance(value, (tuple, list)):
    return [plain(v) for v in value]
  return value


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
  """`{field name: resolved annotation}` of a dataclass."""
  return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def parse_literal(text: str) -> Any:
  """A JSON literal (number, bool, null, list, object), or else the text itself."""
  lowered = text.strip().lower()
  if lowered in ("none", "null"):
    return None
  if lowered in ("true", "false"):
    return lowered == "true"
  try:
    return json.loads(text)
  except json.JSONDecodeError:
    return text


def coerce(value: Any, hint: Any, key: str) -> Any:
  """`value` (or the text of one) converted to the type `hint`.

  Raises:
    ConfigError: naming `key`, when the value does not fit the type.
  """
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  fail = ConfigError(f"{key} must be {_describe(hint)}, got {value!r}.")
  if hint is Any:
    return parse_literal(value) if isinstance(value, str) else value
  if origin in (typing.Union, types.UnionType):
    if type(None) in args and (
        value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null"))
    ):
      return None
    for option in args:
      if option is not type(None):
        try:
          return coerce(value, option, key)
        except ConfigError:
          pass
    raise fail
  if hint is bool:
    if isinstance(value, bool):
      return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
      return value.strip().lower() in _TRUE
    raise fail
  if hint is int:
    if isinstance(value, str):
      try:
        return int(value.strip())
      except ValueError:
        raise fail from None
    if isinstance(value, bool) or not isinstance(value, int):
      raise fail
    return value
  if hint is float:
    if isinstance(value, str):
      try:
        value = float(value.strip())
      except ValueError:
        raise fail from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
      raise fail
    return float(value)
  if hint is str:
    if not isinstance(value, str):
      raise fail
    return value
  if origin is tuple:
    if isinstance(value, str):
      text = value.strip()
      if text.startswith("["):
        value = parse_literal(text)
      else:
        value = [part for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)):
      raise fail
    item_types = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
    if len(item_types) != len(value):
      raise fail
    return tuple(coerce(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, item_types)))
  if origin in (Mapping, dict) or hint in (Mapping, dict):
    if isinstance(value, str):
      value = parse_literal(value)
    if not isinstance(value, Mapping):
      raise fail
    return {str(k): plain(v) for k, v in value.items()}
  raise ConfigError(f"{key}: unsupported type {hint!r}.")  # A new field type needs a case here.


def _describe(hint: Any) -> str:
  origin, args = typing.get_origin(hint), typing.get_args(hint)
  if origin in (typing.Union, types.UnionType):
    return " or ".join("None" if a is type(None) else _describe(a) for a in args)
  if origin is tuple:
    return f"a comma-separated list of {_describe(args[0])}"
  if origin in (Mapping, dict) or hint in (Mapping, dict):
    return "a JSON object"
  return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
      hint, str(hint)
  )
