"""One process per work directory: the lock file ``W/.lock``.

`train` and `evaluate` write into the work directory (checkpoints, the
metrics log, ``W/<split>_metrics.json``), so each holds an exclusive
`fcntl.flock` on ``W/.lock`` while it runs; a second one on the same
directory is refused at once with a :class:`WorkdirBusyError` naming the
holder's PID and host. `predict` only reads the run (its output goes where
the user says) and takes no lock.

The kernel drops a `flock` when its holder exits in any way, SIGKILL
included, so a lock left by a dead process is never in the way: the file
stays, holding the dead process's PID, host and start time, and the next
run takes it over (and says so). The file is never deleted, which keeps
the lock on one inode (deleting it would let two processes lock two
different files of the same name). Under multi-host training only process
0 locks; the other processes share its directory.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import functools
import inspect
import json
import os
import pathlib
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

LOCK_FILE = ".lock"

_F = TypeVar("_F", bound=Callable[..., Any])


class WorkdirBusyError(RuntimeError):
  """Another live process holds the work directory's lock."""


class WorkdirError(RuntimeError):
  """The work directory cannot be created, locked or written (a file system fault)."""


@dataclasses.dataclass(frozen=True)
class Holder:
  """Who holds (or last held) a lock: the contents of ``W/.lock``."""

  pid: int
  host: str
  started: float
  command: str = ""

  def describe(self) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.started))
    what = f"{self.command} " if self.command else ""
    return f"{what}process {self.pid} on host {self.host} (started {started})"

  def is_dead(self) -> bool:
    """True when this host's process `pid` is gone (False if unknown or elsewhere)."""
    if self.host != socket.gethostname():
      return False
    try:
      os.kill(self.pid, 0)
    except ProcessLookupError:
      return True
    except PermissionError:
      return False
    return False


def read_holder(path: pathlib.Path) -> Holder | None:
  """The holder recorded in a lock file, or None (missing, empty or unreadable)."""
  try:
    fields = json.loads(path.read_text())
    return Holder(**fields)
  except (OSError, ValueError, TypeError):
    return None


def _fault(path: pathlib.Path, error: OSError, doing: str) -> WorkdirError:
  """A one-line `WorkdirError` for an OSError while `doing` something with `path`."""
  reason = error.strerror or str(error)
  if error.errno == errno.EEXIST or error.errno == errno.ENOTDIR:
    reason = "a path component is a file, not a directory"
  return WorkdirError(f"cannot {doing} {path}: {reason}")


class WorkdirLock:
  """An exclusive, non-blocking lock on a work directory.

  Args:
    workdir: the run's directory; created (with parents) if missing.
    command: what holds it (``"train"``, ``"evaluate"``), for the message a
      refused process prints.
    echo: where a note goes when a dead process's lock is taken over.

  Raises:
    WorkdirBusyError: (from :meth:`acquire`) a live process holds the lock.
    WorkdirError: the directory cannot be created or the lock file written
      (`workdir` is a file, read-only file system, no space, ...).

  Example usage::

    with WorkdirLock(workdir, command="train"):
      ...  # only this process writes into workdir
  """

  def __init__(self, workdir: str | pathlib.Path, *, command: str = "",
               echo: Callable[[str], None] | None = None):
    self.workdir = pathlib.Path(workdir).absolute()
    self.path = self.workdir / LOCK_FILE
    self.command, self.echo = command, echo
    self._fd: int | None = None

  @property
  def held(self) -> bool:
    return self._fd is not None

  def acquire(self) -> WorkdirLock:
    """Takes the lock (at once, or raises); see the class docstring."""
    if self.workdir.exists() and not self.workdir.is_dir():
      raise WorkdirError(
          f"--workdir {self.workdir} is a file, not a directory; pass a directory (it is"
          " created if missing)."
      )
    try:
      self.workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
      raise _fault(self.workdir, error, "create the work directory") from error
    try:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
      raise _fault(self.path, error, "create the lock file") from error
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
      os.close(fd)
      if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
        raise _fault(self.path, error, "lock") from error
      holder = read_holder(self.path)
      who = holder.describe() if holder else "another process"
      raise WorkdirBusyError(
          f"{self.workdir} is in use by {who} (lock {self.path}); wait for it to finish or"
          " use another --workdir."
      ) from None
    previous = read_holder(self.path)
    if previous is not None and self.echo is not None:
      state = "no longer running" if previous.is_dead() else "not holding it"
      self.echo(f"taking over the lock {self.path} left by {previous.describe()}, {state}")
    holder = Holder(os.getpid(), socket.gethostname(), time.time(), self.command)
    try:
      os.ftruncate(fd, 0)
      os.pwrite(fd, (json.dumps(dataclasses.asdict(holder)) + "\n").encode(), 0)
    except OSError as error:
      os.close(fd)
      raise _fault(self.path, error, "write the lock file") from error
    self._fd = fd
    return self

  def release(self) -> None:
    """Clears the holder record and drops the lock (idempotent)."""
    if self._fd is None:
      return
    fd, self._fd = self._fd, None
    try:
      os.ftruncate(fd, 0)  # Free: no holder to report.
    except OSError:
      pass  # Read-only or full by now: the stale record is harmless.
    finally:
      os.close(fd)  # Drops the flock.

  def __enter__(self) -> WorkdirLock:
    return self.acquire()

  def __exit__(self, *exc_info) -> None:
    self.release()


def holding_workdir_lock(command: str) -> Callable[[_F], _F]:
  """Decorates a function with a `workdir` argument to run under its lock.

  Only JAX process 0 locks (the others of a multi-host run share its
  directory). An `echo` argument of the function, if given, gets the
  take-over note.
  """

  def decorate(function: _F) -> _F:
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
      import jax  # pylint: disable=g-import-not-at-top

      bound = signature.bind(*args, **kwargs)
      bound.apply_defaults()
      if jax.process_index() != 0:
        return function(*args, **kwargs)
      echo = bound.arguments.get("echo")
      with WorkdirLock(bound.arguments["workdir"], command=command, echo=echo):
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]

  return decorate
