"""Exceptions raised by the data layer.

Every error names the dataset, file, argument or position at fault, so that a
bad input fails where it is found instead of as a shape error inside a model.
"""

from __future__ import annotations


class DataError(ValueError):
  """Input data that cannot be used: wrong shape, non-finite values, too short,
  irregular timestamps, unknown dataset names or options."""


class MissingFileError(DataError, FileNotFoundError):
  """A file the user must provide (a manual download) is not where expected."""
