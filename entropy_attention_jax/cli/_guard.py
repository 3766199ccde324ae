"""How a command fails: one `error:` line on stderr and exit status 1.

`run_guarded(command)` runs a command function and turns every error that
is the user's or the file system's to fix into one line:

- bad input, an incompatible or damaged run, a non-finite loss or metric,
  a busy work directory (the errors the training package raises);
- `OSError` (a read-only or full file system, a path that is a file),
  printed with the path and a hint.

Failures leave background noise behind: Orbax logs each failed save
through absl (with tracebacks) and asyncio reports the tasks it abandoned.
While a guarded command runs those records are dropped, as are the
"Event loop is closed" callbacks a failed restore leaves (see
`training.checkpoint`); the error line says what happened.
``ENTROPY_ATTENTION_JAX_DEBUG=1`` keeps all of it and lets the exception's
traceback through.
"""

from __future__ import annotations

import errno
import logging
import os
import pathlib
import sys
import warnings
from collections.abc import Callable
from typing import Any

DEBUG_ENV = "ENTROPY_ATTENTION_JAX_DEBUG"

_HINTS = {
    errno.ENOSPC: "free space, then run the same command again (train resumes from its last"
    " complete checkpoint)",
    errno.EDQUOT: "free space, then run the same command again",
    errno.EROFS: "the work directory must be on a writable file system",
    errno.EACCES: "the work directory must be writable",
    errno.EPERM: "the work directory must be writable",
}


def one_line(message: str) -> str:
  """`message` with its line breaks folded into spaces."""
  return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def describe_os_error(error: OSError) -> str:
  """`PATH: reason; hint` for a file-system error."""
  reason = error.strerror or str(error)
  where = error.filename if error.filename is not None else None
  text = f"{where}: {reason}" if where else reason
  hint = _HINTS.get(error.errno)
  return f"{text}; {hint}." if hint else f"{text}."


class _DropBackgroundNoise(logging.Filter):
  """Drops Orbax's absl records and asyncio's abandoned-task reports."""

  def __init__(self):
    super().__init__()
    self._orbax_dir = None
    try:
      import orbax  # pylint: disable=g-import-not-at-top

      self._orbax_dir = str(pathlib.Path(orbax.__path__[0]))
    except ImportError:
      pass

  def filter(self, record: logging.LogRecord) -> bool:
    if record.name == "asyncio" and "exception was never retrieved" in str(record.msg):
      return False
    return not (self._orbax_dir and record.pathname.startswith(self._orbax_dir))


def quiet_background_noise() -> None:
  """Installs the filters described in the module docstring (idempotent)."""
  # Orbax coroutines a failed save abandoned, reported at interpreter exit.
  warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                          category=RuntimeWarning)
  for name in ("absl", "asyncio"):
    logger = logging.getLogger(name)
    if not any(isinstance(f, _DropBackgroundNoise) for f in logger.filters):
      logger.addFilter(_DropBackgroundNoise())
  from entropy_attention_jax.training import checkpoint  # pylint: disable=g-import-not-at-top

  checkpoint.quiet_orphaned_reads()


def _known_errors() -> tuple[type[BaseException], ...]:
  from entropy_attention_jax.training import CheckpointError  # pylint: disable=g-import-not-at-top
  from entropy_attention_jax.training import lock  # pylint: disable=g-import-not-at-top

  # ConfigError, DataError, IncompatibleRunError and LogError are ValueErrors;
  # ImportError: an optional extra that is not installed (matplotlib for --plot).
  return (ValueError, CheckpointError, FloatingPointError, ImportError,
          lock.WorkdirBusyError, lock.WorkdirError)


def run_guarded(command: Callable[[], Any]) -> int:
  """Runs `command`; a known error becomes one `error:` line on stderr and status 1."""
  debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
  if not debug:
    quiet_background_noise()
  try:
    command()
  except _known_errors() as error:
    if debug:
      raise
    message = one_line(str(error))
  except OSError as error:
    if debug:
      raise
    message = one_line(describe_os_error(error))
  else:
    return 0
  sys.stdout.flush()
  print(f"error: {message}", file=sys.stderr, flush=True)
  return 1
