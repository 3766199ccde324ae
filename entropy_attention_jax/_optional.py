"""Optional dependencies: one clear error line naming the extra to install.

The core (`attention`, `entropy`) needs only JAX and NumPy. The layers, the
model, the data layer and training need their libraries, declared as extras
in pyproject.toml (`nn`, `data`, `train`, `all`). Each package that needs one
calls `require` before importing it, so a missing library reads as
"flax is needed for the Flax layers: pip install 'entropy_attention_jax[nn]'"
rather than a traceback from deep inside a module.
"""

from __future__ import annotations

import importlib
import types


class MissingDependencyError(ModuleNotFoundError):
  """An optional library is not installed; the message names the extra."""


def require(
    module: str, extra: str, purpose: str, distribution: str | None = None
) -> types.ModuleType:
  """Imports `module` or raises one line naming the extra that installs it.

  Args:
    module: the import name, e.g. ``"flax"`` or ``"tensorflow_datasets"``.
    extra: the extra of this package that installs it, e.g. ``"nn"``.
    purpose: what it is needed for, completing "... is needed <purpose>".
    distribution: the name to show when it differs from `module`
      (``"tensorflow-datasets"``).

  Returns:
    The imported module.

  Raises:
    MissingDependencyError: `module` (or its top-level package) is not installed.
  """
  try:
    return importlib.import_module(module)
  except ModuleNotFoundError as error:
    # Only the library itself being absent is ours to explain; a module that
    # is installed but fails on one of its own imports keeps its traceback.
    if error.name is None or error.name.split(".")[0] != module.split(".")[0]:
      raise
    name = distribution or module
    raise MissingDependencyError(
        f"{name} is needed {purpose}: pip install 'entropy_attention_jax[{extra}]'",
        name=error.name,
    ) from None
