"""Exceptions raised by the data layer, and the integer check they share.

Every error names the dataset, file, argument or position at fault, so that a
bad input fails where it is found instead of as a shape error inside a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class DataError(ValueError):
  """Input data that cannot be used: wrong shape, non-finite values, too short,
  irregular timestamps, unknown dataset names or options."""


class MissingFileError(DataError, FileNotFoundError):
  """A file the user must provide (a manual download) is not where expected."""


def check_integer(name: str, value: Any, minimum: int, context: str = "") -> int:
  """`value` as an int; raises `DataError` unless an integer >= `minimum`.

  Args:
    name: the argument's name, for the message.
    value: what was passed (bools and floats are rejected).
    minimum: smallest accepted value.
    context: message prefix, e.g. `"synthetic_traffic: "`.
  """
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise DataError(f"{context}{name} must be an integer >= {minimum}, got {value!r}.")
  return int(value)
