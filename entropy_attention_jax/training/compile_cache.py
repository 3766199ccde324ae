"""JAX's persistent compilation cache, switched on for CPU-sized programs too.

Compiling ELinFormer's training step takes seconds to tens of seconds of CPU
(XLA:CPU compiles every fusion through LLVM); a resumed or repeated run of the
same configuration compiles the same programs again. With the persistent
cache, XLA's executables are written to a directory, keyed by the program, the
JAX/XLA versions, the compile options and the devices, and a later process
loads them instead of compiling. JAX's defaults only store programs that took
at least 1 s to compile; here every program is stored (the evaluation and
prediction steps of a small model compile in under a second, but a run has
several of them).

The CLI's `train` runs inside :func:`compilation_cache` with
``WORKDIR/compile_cache`` unless ``--no-compile-cache`` is given,
``--compile-cache DIR`` names another directory (e.g. one shared by many
runs), or the environment already configures one (``JAX_COMPILATION_CACHE_DIR``).
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

import jax

_OPTIONS = (
    "jax_compilation_cache_dir",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_persistent_cache_min_entry_size_bytes",
)

CACHE_DIRNAME = "compile_cache"


def enable_compilation_cache(directory: str | pathlib.Path) -> pathlib.Path:
  """Makes JAX read and write compiled programs under `directory` (created).

  Must be called before the first compilation of the process: JAX decides
  once per process whether the cache is used.

  Returns:
    The absolute cache directory.
  """
  path = pathlib.Path(directory).expanduser().absolute()
  path.mkdir(parents=True, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", str(path))
  # Store every program, however quick to compile or small.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
  return path


def compilation_cache_dir() -> pathlib.Path | None:
  """The cache directory in use, or None when the cache is off."""
  directory = jax.config.jax_compilation_cache_dir
  return pathlib.Path(directory) if directory else None


@contextlib.contextmanager
def compilation_cache(directory: str | pathlib.Path | None) -> Iterator[pathlib.Path | None]:
  """:func:`enable_compilation_cache` for the duration of a block, then the previous settings.

  With `directory` None, an already configured cache (e.g. from
  ``JAX_COMPILATION_CACHE_DIR``) stays as it is and nothing changes.

  Yields:
    The cache directory in use, or None.
  """
  if directory is None:
    yield compilation_cache_dir()
    return
  previous = {name: getattr(jax.config, name) for name in _OPTIONS}
  try:
    yield enable_compilation_cache(directory)
  finally:
    for name, value in previous.items():
      jax.config.update(name, value)
