"""One process per work directory: `W/.lock` (training/lock.py) and its CLI errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from entropy_attention_jax.training import read_metrics_log
from entropy_attention_jax.training.lock import (
    LOCK_FILE,
    WorkdirBusyError,
    WorkdirError,
    WorkdirLock,
    read_holder,
)

from tests.training.conftest import REPO_ROOT, cli, train_args


def test_a_second_lock_is_refused_naming_the_holder_then_free_after_release(tmp_path):
  workdir = tmp_path / "w"
  with WorkdirLock(workdir, command="train") as lock:
    holder = read_holder(workdir / LOCK_FILE)
    assert (holder.pid, holder.host, holder.command) == (os.getpid(), socket.gethostname(), "train")
    with pytest.raises(WorkdirBusyError) as error:
      WorkdirLock(workdir).acquire()
    assert f"{workdir} is in use by train process {os.getpid()} on host" in str(error.value)
    assert socket.gethostname() in str(error.value)
    assert lock.held
  assert read_holder(workdir / LOCK_FILE) is None  # Released: no holder recorded.
  notes: list[str] = []
  with WorkdirLock(workdir, echo=notes.append):
    pass
  assert not notes  # A cleanly released lock is not "taken over".


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  workdir = tmp_path / "w"
  workdir.mkdir()
  process = subprocess.Popen([sys.executable, "-c", "pass"])
  process.wait()  # A PID that is certainly gone.
  stale = {"pid": process.pid, "host": socket.gethostname(), "started": 1.0, "command": "train"}
  (workdir / LOCK_FILE).write_text(json.dumps(stale))
  notes: list[str] = []
  with WorkdirLock(workdir, command="train", echo=notes.append):
    assert read_holder(workdir / LOCK_FILE).pid == os.getpid()
  assert len(notes) == 1 and f"process {process.pid}" in notes[0]
  assert "no longer running" in notes[0]


def test_the_lock_survives_sigkill_of_its_holder(tmp_path):
  workdir = tmp_path / "w"
  holder = subprocess.Popen(
      [sys.executable, "-c",
       "import sys, time\n"
       "from entropy_attention_jax.training.lock import WorkdirLock\n"
       f"WorkdirLock({str(workdir)!r}, command='train').acquire()\n"
       "print('locked', flush=True)\n"
       "time.sleep(120)\n"],
      cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
      env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
  )
  try:
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(WorkdirBusyError, match=f"process {holder.pid} on host"):
      WorkdirLock(workdir).acquire()
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  notes: list[str] = []
  with WorkdirLock(workdir, echo=notes.append):  # The kernel dropped the dead holder's lock.
    pass
  assert f"left by train process {holder.pid}" in notes[0] and "no longer running" in notes[0]


def test_a_workdir_that_is_a_file_is_a_one_line_error(tmp_path):
  path = tmp_path / "file"
  path.write_text("not a directory")
  with pytest.raises(WorkdirError, match=f"--workdir {path} is a file, not a directory"):
    WorkdirLock(path).acquire()
  with pytest.raises(WorkdirError, match=f"cannot create the work directory {path / 'w'}"):
    WorkdirLock(path / "w").acquire()
  assert path.read_text() == "not a directory"


def _one_error_line(err: str) -> str:
  lines = err.splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), err
  return lines[0]


def test_train_and_evaluate_refuse_a_workdir_in_use(trained_run, data_dir, subprocess_env, tmp_path):
  workdir = tmp_path / "busy"
  with WorkdirLock(workdir, command="train"):
    process = cli(*train_args(data_dir, workdir), env=subprocess_env)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 1
    line = _one_error_line(err)
    assert f"is in use by train process {os.getpid()} on host {socket.gethostname()}" in line
    assert sorted(p.name for p in workdir.iterdir()) == [LOCK_FILE]  # Nothing else written.

  import shutil  # pylint: disable=g-import-not-at-top

  run = tmp_path / "run"
  shutil.copytree(trained_run[0], run)
  with WorkdirLock(run, command="train"):
    process = cli("evaluate", "--workdir", str(run), env=subprocess_env)
    _, err = process.communicate(timeout=300)
  assert process.returncode == 1 and "is in use by train process" in _one_error_line(err)


@pytest.mark.slow
def test_two_trains_started_together_one_runs_the_other_is_refused(
    trained_run, data_dir, subprocess_env, tmp_path
):
  """The issue's reproduction: before the lock, both trained and the log held duplicates."""
  workdir = tmp_path / "w"
  args = train_args(data_dir, workdir)
  processes = [cli(*args, env=subprocess_env) for _ in range(2)]
  results = [(p, *p.communicate(timeout=600)) for p in processes]
  codes = sorted(p.returncode for p, _, _ in results)
  assert codes == [0, 1], [err for _, _, err in results]
  refused = next(err for p, _, err in results if p.returncode == 1)
  assert "is in use by train process" in _one_error_line(refused)
  records = [(r["kind"], r["step"]) for r in read_metrics_log(workdir)]
  assert records == [(r["kind"], r["step"]) for r in read_metrics_log(trained_run[0])]
