"""Fault injection for `train`: kills, damaged files, concurrent runs, file-system faults.

Every case is a tiny synthetic run (the `tiny` preset, 6 nodes x 2 days, 3
epochs of 20 steps, a checkpoint every 5 steps) driven through the command
line, as a user would: `python -m entropy_attention_jax train ...` in a
subprocess. Each case injects one fault, checks what the program did (a kill
must leave a run that resumes; a damaged or unusable directory must be
refused with exit 1 and exactly one `error:` line on stderr, changing
nothing), repairs what a user would repair (following the error message),
runs the same command again to the end, and compares the final state with an
uninterrupted reference run: `test_metrics.json`, every `metrics.jsonl`
record (without its clock fields), the steps kept in `W/checkpoints` and
`W/best`, and every array of the latest and the best checkpoint, bitwise.

Faults:

- `SIGKILL at a random time`: uniform between start-up and the reference
  run's wall time (start-up, compilation, training, saving, evaluation);
- `SIGKILL during a checkpoint write`: the moment the k-th
  ``*.orbax-checkpoint-tmp`` directory appears (k random; step 0 included),
  counted as "during" only when the temporary directory is still there
  after the kill;
- `SIGKILL right after validation`: the moment the k-th `val` record is in
  the log, before that epoch's checkpoints;
- `SIGKILL during the final test evaluation`: after the last checkpoint is
  complete and before `test_metrics.json` exists (verified after the kill);
- damaged files: random bytes in the latest checkpoint's arrays, its
  `manifest.ocdbt` deleted, its progress JSON truncated (each refused; the
  repair is the message's advice, removing that checkpoint, which falls
  back to the previous one), 20 garbled bytes in one log line, and a
  garbage `config.json` (refused; repaired by restoring the file);
- checkpoints removed (`checkpoints/` and `best/`, log kept): refused,
  nothing changed; the repair restores them;
- two `train` processes started together on one directory: one runs, the
  other is refused;
- a read-only directory and a full disk, on a small tmpfs: refused / failed
  with one line; resumed after remounting writable or larger. Skipped with a
  note where `mount` is not allowed.

    python experiments/fault_injection.py [--quick] [--out DIR] [--seed S]

`--quick` runs a handful of faults (a few minutes); the default runs
over 30 kills. The subprocesses share a persistent JAX compilation cache in
`DIR/jax_cache` (`--no-compile-cache` to compile in every run), set through
their environment only. Results: the table on stdout and in
`DIR/fault_injection.md`, each case's directory and logs under `DIR/cases`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EPOCHS, STEPS_PER_EPOCH = 3, 20  # 323 training windows // batch 16
FINAL_STEP = EPOCHS * STEPS_PER_EPOCH
TRAIN_FLAGS = [
    "--dataset", "synthetic_traffic", "--preset", "tiny", "--nodes", "6", "--days", "2",
    "--epochs", str(EPOCHS), "--no-progress", "--set", "train.checkpoint_every_steps=5",
    "--set", "train.log_every_steps=5",
]
CLOCK_FIELDS = ("time", "elapsed_s")
TMP_MARK = "orbax-checkpoint-tmp"


@dataclasses.dataclass
class Outcome:
  """One case's result, a row of the table once grouped by fault."""

  fault: str
  outcome: str  # what the fault produced, e.g. "killed, resumed" or "refused (1 line)"
  identical: bool
  kill: str = ""  # "", "kill", "checkpoint write", "final evaluation"
  note: str = ""


class Harness:
  """Runs `train` subprocesses in `out/cases/<name>` and compares with the reference."""

  def __init__(self, out: pathlib.Path, compile_cache: bool, rng: random.Random):
    self.out, self.rng = out, rng
    self.cases = out / "cases"
    self.cases.mkdir(parents=True, exist_ok=True)
    self.data_dir = out / "data"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("ENTROPY_ATTENTION_JAX_DEBUG", None)
    if compile_cache:
      env["JAX_COMPILATION_CACHE_DIR"] = str(out / "jax_cache")
      env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
      env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    self.env = env
    self.reference: pathlib.Path | None = None
    self.reference_seconds = 0.0
    self._reference_arrays: dict[str, Any] | None = None

  # Processes.

  def start(self, workdir: pathlib.Path, tag: str) -> subprocess.Popen:
    logs = self.cases / f"{workdir.name}.{tag}"  # Never on the tmpfs under test.
    command = [sys.executable, "-m", "entropy_attention_jax", "train", *TRAIN_FLAGS,
               "--data-dir", str(self.data_dir), "--workdir", str(workdir)]
    process = subprocess.Popen(
        command, env=self.env, cwd=REPO_ROOT,
        stdout=open(f"{logs}.out", "w"),  # pylint: disable=consider-using-with
        stderr=open(f"{logs}.err", "w"),  # pylint: disable=consider-using-with
    )
    process.logs = logs  # type: ignore[attr-defined]
    return process

  def finish(self, process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    code = process.wait(timeout=timeout)
    logs = process.logs  # type: ignore[attr-defined]
    return code, pathlib.Path(f"{logs}.out").read_text(), pathlib.Path(f"{logs}.err").read_text()

  def run(self, workdir: pathlib.Path, tag: str) -> tuple[int, str, str]:
    return self.finish(self.start(workdir, tag))

  @staticmethod
  def kill(process: subprocess.Popen) -> bool:
    """SIGKILLs `process`; False when it had already exited."""
    if process.poll() is not None:
      return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode == -signal.SIGKILL

  @staticmethod
  def wait_for(condition: Callable[[], bool], process: subprocess.Popen,
               timeout: float = 300) -> bool:
    """Polls `condition` every 2 ms; False when the process exits or time runs out first."""
    deadline = time.monotonic() + timeout
    while not condition():
      if process.poll() is not None or time.monotonic() > deadline:
        return False
      time.sleep(0.002)
    return True

  # The reference and comparisons.

  def make_reference(self) -> None:
    workdir = self.cases / "reference"
    shutil.rmtree(workdir, ignore_errors=True)
    code, _, err = self.run(workdir, "run")  # Builds the dataset, fills the compilation cache.
    if code != 0:
      raise SystemExit(f"the reference run failed:\n{err}")
    # Once more, timed with the dataset and the compilation cache warm.
    shutil.rmtree(workdir)
    start = time.perf_counter()
    code, _, err = self.run(workdir, "run")
    if code != 0:
      raise SystemExit(f"the reference run failed:\n{err}")
    self.reference_seconds = time.perf_counter() - start
    self.reference = workdir
    self._reference_arrays = self.arrays(workdir)

  def arrays(self, workdir: pathlib.Path) -> dict[str, Any]:
    """The latest and best checkpoints' arrays (flattened, on the host) and their steps."""
    import jax  # pylint: disable=g-import-not-at-top

    from entropy_attention_jax import training  # pylint: disable=g-import-not-at-top
    from entropy_attention_jax.training.checkpoint import (  # pylint: disable=g-import-not-at-top
        RunCheckpoints,
    )

    run = training.open_run(workdir)
    with RunCheckpoints(workdir, create=False) as checkpoints:
      state, progress = checkpoints.restore_latest(run.initial_state)
      best, best_progress = checkpoints.restore_best(run.initial_state)
    leaves = lambda tree: [np.asarray(x) for x in jax.tree.leaves(tree)]  # noqa: E731
    return {
        "latest": (progress.step, leaves(state)),
        "best": (best_progress.step, leaves(best)),
    }

  def identical(self, workdir: pathlib.Path) -> tuple[bool, str]:
    """Whether a finished run equals the reference (and, if not, the first difference)."""
    reference = self.reference
    assert reference is not None and self._reference_arrays is not None
    test = workdir / "test_metrics.json"
    if not test.exists():
      return False, "no test_metrics.json"
    if json.loads(test.read_text()) != json.loads((reference / "test_metrics.json").read_text()):
      return False, "test metrics differ"
    if _records(workdir) != _records(reference):
      return False, "metrics.jsonl differs"
    for name in ("checkpoints", "best"):
      if _steps(workdir / name) != _steps(reference / name):
        return False, f"{name}/ holds steps {_steps(workdir / name)}"
    try:
      arrays = self.arrays(workdir)
    except Exception as error:  # pylint: disable=broad-exception-caught
      return False, f"cannot read the checkpoints: {error}"
    for kind, (step, leaves) in arrays.items():
      ref_step, ref_leaves = self._reference_arrays[kind]
      if step != ref_step or len(leaves) != len(ref_leaves) or not all(
          a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(leaves, ref_leaves)
      ):
        return False, f"{kind} checkpoint arrays differ"
    return True, ""

  def fresh(self, name: str, parent: pathlib.Path | None = None) -> pathlib.Path:
    workdir = (parent or self.cases) / name
    shutil.rmtree(workdir, ignore_errors=True)
    for path in self.cases.glob(f"{workdir.name}.*"):
      if path.is_file():
        path.unlink()
    return workdir

  def resume_and_compare(self, fault: str, workdir: pathlib.Path, outcome: str,
                         kill: str = "", note: str = "") -> Outcome:
    code, _, err = self.run(workdir, "resume")
    if code != 0:
      return Outcome(fault, f"{outcome}; resume failed: {_last_line(err)}", False, kill, note)
    same, why = self.identical(workdir)
    return Outcome(fault, outcome, same, kill, why or note)


def _records(workdir: pathlib.Path) -> list[dict[str, Any]]:
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  return [{k: v for k, v in json.loads(x).items() if k not in CLOCK_FIELDS} for x in lines if x]


def _steps(directory: pathlib.Path) -> list[int]:
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def _tmp_dirs(workdir: pathlib.Path) -> set[str]:
  found = set()
  for name in ("checkpoints", "best"):
    try:
      found |= {f"{name}/{entry}" for entry in os.listdir(workdir / name) if TMP_MARK in entry}
    except FileNotFoundError:
      pass
  return found


def _last_line(text: str) -> str:
  lines = [line for line in text.splitlines() if line.strip()]
  return lines[-1][:200] if lines else "(no output)"


def _one_error_line(err: str) -> bool:
  lines = err.splitlines()
  return len(lines) == 1 and lines[0].startswith("error: ")


def _snapshot(workdir: pathlib.Path) -> dict[str, str]:
  """Every file's SHA-256 and every directory (the lock file aside)."""
  return {
      str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file()
      else "directory"
      for p in sorted(workdir.rglob("*")) if p.name != ".lock"
  }


# Kills.


def kill_at_random_time(h: Harness, index: int) -> Outcome:
  fault = "SIGKILL at a random time"
  delay = h.rng.uniform(0.3, h.reference_seconds)
  for _ in range(4):  # The machine's load varies: a run may end before `delay`.
    workdir = h.fresh(f"random_kill_{index}")
    process = h.start(workdir, "killed")
    time.sleep(delay)
    if h.kill(process):
      return h.resume_and_compare(fault, workdir, "killed, resumed", kill="kill",
                                  note=f"at {delay:.1f} s")
    delay /= 2
  return Outcome(fault, "the run always ended before the kill", False)


def kill_during_checkpoint_write(h: Harness, index: int) -> Outcome:
  fault = "SIGKILL during a checkpoint write"
  workdir = h.fresh(f"write_kill_{index}")
  # Saves: step 0, then every 5 steps and at epoch ends, plus best models.
  target = h.rng.randrange(0, 14)
  seen: list[str] = []  # Temporary directories in the order they appeared.

  def kth_write_started() -> bool:
    seen.extend(sorted(_tmp_dirs(workdir) - set(seen)))
    return len(seen) > target

  process = h.start(workdir, "killed")
  if not h.wait_for(kth_write_started, process):
    h.finish(process)
    return Outcome(fault, f"write {target} never seen", False)
  h.kill(process)
  during = bool(_tmp_dirs(workdir))
  outcome = "killed mid-write, resumed" if during else "killed just after a write, resumed"
  return h.resume_and_compare(fault, workdir, outcome,
                              kill="checkpoint write" if during else "kill",
                              note=f"write {target}: {seen[-1]}")


def kill_after_validation(h: Harness, index: int) -> Outcome:
  fault = "SIGKILL right after validation"
  workdir = h.fresh(f"val_kill_{index}")
  epoch = h.rng.randrange(1, EPOCHS + 1)
  log = workdir / "metrics.jsonl"

  def validated() -> bool:
    try:
      return log.read_bytes().count(b'"kind": "val"') >= epoch
    except FileNotFoundError:
      return False

  process = h.start(workdir, "killed")
  if not h.wait_for(validated, process):
    h.finish(process)
    return Outcome(fault, "no validation seen", False)
  h.kill(process)
  return h.resume_and_compare(fault, workdir, "killed, resumed", kill="kill",
                              note=f"after epoch {epoch}")


def kill_during_final_evaluation(h: Harness, index: int) -> Outcome:
  fault = "SIGKILL during the final test evaluation"
  workdir = h.fresh(f"final_eval_kill_{index}")
  final = workdir / "checkpoints" / str(FINAL_STEP)
  delay = h.rng.uniform(0.0, 0.15)
  process = h.start(workdir, "killed")
  if not h.wait_for(final.is_dir, process):
    h.finish(process)
    return Outcome(fault, "the final checkpoint never appeared", False)
  time.sleep(delay)
  killed = h.kill(process)
  during = killed and not (workdir / "test_metrics.json").exists()
  return h.resume_and_compare(
      fault, workdir, "killed before test_metrics.json, resumed" if during else
      "missed (test metrics already written)", kill="final evaluation" if during else "",
      note=f"{delay * 1000:.0f} ms after the last checkpoint")


# Damaged files and removed checkpoints.


def _finished_copy(h: Harness, name: str) -> pathlib.Path:
  workdir = h.fresh(name)
  shutil.copytree(h.reference, workdir)
  (workdir / "test_metrics.json").unlink()  # So that the repaired run must evaluate again.
  return workdir


def _killed_run(h: Harness, name: str) -> pathlib.Path:
  """A run killed after its first epoch's checkpoints (to damage before resuming)."""
  workdir = h.fresh(name)
  process = h.start(workdir, "killed")
  h.wait_for(lambda: (workdir / "checkpoints" / str(STEPS_PER_EPOCH)).is_dir(), process)
  h.kill(process)
  return workdir


def _refusal(h: Harness, fault: str, workdir: pathlib.Path, repair: Callable[[], None],
             expect: str) -> Outcome:
  before = _snapshot(workdir)
  code, _, err = h.run(workdir, "refused")
  unchanged = _snapshot(workdir) == before
  if code != 1 or not _one_error_line(err) or expect not in err:
    return Outcome(fault, f"not refused as expected (exit {code}): {_last_line(err)}", False)
  outcome = "refused (1 line)" + ("" if unchanged else ", but files changed")
  repair()
  result = h.resume_and_compare(fault, workdir, outcome + ", repaired, resumed")
  result.identical = result.identical and unchanged
  return result


def damaged_checkpoint(h: Harness, damage: str) -> Outcome:
  fault = {
      "random_bytes": "random bytes in the latest checkpoint",
      "no_manifest": "latest checkpoint's manifest.ocdbt deleted",
      "truncated_progress": "latest checkpoint's progress truncated",
  }[damage]
  workdir = _finished_copy(h, f"damaged_{damage}")
  latest = workdir / "checkpoints" / str(FINAL_STEP)
  state = latest / "state"
  if damage == "random_bytes":
    for path in (state / "ocdbt.process_0" / "d").iterdir():
      path.write_bytes(os.urandom(path.stat().st_size))
  elif damage == "no_manifest":
    (state / "manifest.ocdbt").unlink()
  else:
    metadata = latest / "progress" / "metadata"
    metadata.write_bytes(metadata.read_bytes()[: metadata.stat().st_size // 2])
  return _refusal(h, fault, workdir, lambda: shutil.rmtree(latest),
                  f"cannot restore the latest checkpoint {latest}")


def damaged_log(h: Harness) -> Outcome:
  workdir = _killed_run(h, "damaged_log")
  log = workdir / "metrics.jsonl"
  original = log.read_bytes()
  lines = original.splitlines(keepends=True)
  lines[1] = lines[1][:8] + os.urandom(20) + lines[1][28:]
  log.write_bytes(b"".join(lines))
  return _refusal(h, "20 garbled bytes in a metrics.jsonl line", workdir,
                  lambda: log.write_bytes(original), f"{log}: line 2 is not a valid log record")


def damaged_config(h: Harness) -> Outcome:
  workdir = _killed_run(h, "damaged_config")
  config = workdir / "config.json"
  original = config.read_bytes()
  config.write_bytes(original[:40])
  return _refusal(h, "truncated config.json", workdir, lambda: config.write_bytes(original),
                  f"cannot read {config}")


def removed_checkpoints(h: Harness) -> Outcome:
  workdir = _finished_copy(h, "removed_checkpoints")
  saved = workdir.parent / "removed_checkpoints.saved"
  shutil.rmtree(saved, ignore_errors=True)
  saved.mkdir()
  for name in ("checkpoints", "best"):
    shutil.move(workdir / name, saved / name)

  def repair() -> None:
    for name in ("checkpoints", "best"):
      shutil.move(saved / name, workdir / name)

  return _refusal(h, "checkpoints/ and best/ removed, log kept", workdir, repair,
                  "refusing to train over them")


# Concurrency.


def concurrent_runs(h: Harness, index: int) -> Outcome:
  fault = "two trains started together"
  workdir = h.fresh(f"concurrent_{index}")
  first, second = h.start(workdir, "a"), h.start(workdir, "b")
  results = [h.finish(first), h.finish(second)]
  codes = sorted(code for code, _, _ in results)
  refused = [err for code, _, err in results if code == 1]
  if codes != [0, 1] or not _one_error_line(refused[0]) or "is in use by" not in refused[0]:
    return Outcome(fault, f"exit codes {codes}: {[_last_line(e) for _, _, e in results]}", False)
  same, why = h.identical(workdir)
  return Outcome(fault, "one ran, one refused (1 line)", same, note=why)


# File-system faults on a small tmpfs.


class Tmpfs:
  """A small tmpfs under `path` (unmounted by :meth:`close`)."""

  def __init__(self, path: pathlib.Path, size: str):
    self.path = path
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True, check=False)
    self.error = None if result.returncode == 0 else (result.stderr.strip() or "mount failed")

  def remount(self, options: str) -> bool:
    return subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)],
                          capture_output=True, check=False).returncode == 0

  def close(self) -> None:
    if self.error is None:
      subprocess.run(["umount", "-l", str(self.path)], check=False)


def read_only_directory(h: Harness) -> Outcome:
  fault = "read-only work directory (tmpfs)"
  mount = Tmpfs(h.out / "mnt_ro", "8m")
  if mount.error:
    return Outcome(fault, "skipped", True, note=f"mount not allowed: {mount.error}")
  try:
    killed = _killed_run(h, "read_only_src")
    workdir = mount.path / "read_only"
    shutil.copytree(killed, workdir)
    if not mount.remount("ro"):
      return Outcome(fault, "skipped", True, note="cannot remount read-only")
    result = _refusal(h, fault, workdir, lambda: mount.remount("rw"), "Read-only file system")
    return result
  finally:
    mount.close()


def full_disk(h: Harness) -> Outcome:
  fault = "full disk (700 KB tmpfs)"
  mount = Tmpfs(h.out / "mnt_full", "700k")
  if mount.error:
    return Outcome(fault, "skipped", True, note=f"mount not allowed: {mount.error}")
  try:
    workdir = mount.path / "full_disk"
    code, _, err = h.run(workdir, "full")
    if code != 1 or not _one_error_line(err) or "No space left on device" not in err:
      return Outcome(fault, f"not one error line (exit {code}): {_last_line(err)}", False)
    mount.remount("size=16m")
    result = h.resume_and_compare(fault, workdir, "failed (1 line), space freed, resumed")
    if result.identical:  # The workdir is on the tmpfs: copy it out before unmounting.
      shutil.copytree(workdir, h.cases / "full_disk", dirs_exist_ok=True)
    return result
  finally:
    mount.close()


# The table.


def table(outcomes: list[Outcome]) -> str:
  rows: dict[str, list[Outcome]] = {}
  for outcome in outcomes:
    rows.setdefault(outcome.fault, []).append(outcome)
  lines = ["| fault | runs | outcome | final state identical |", "|---|---:|---|---|"]
  for fault, group in rows.items():
    counts: dict[str, int] = {}
    for outcome in group:
      counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    text = "; ".join(f"{n}x {what}" if len(group) > 1 else what for what, n in counts.items())
    notes = sorted({o.note for o in group if o.outcome == "skipped" and o.note})
    if notes:
      text += f" ({'; '.join(notes)})"
    same = sum(o.identical for o in group)
    if all(o.outcome == "skipped" for o in group):
      verdict = "-"
    else:
      verdict = "yes" if same == len(group) else f"no ({len(group) - same} of {len(group)})"
    lines.append(f"| {fault} | {len(group)} | {text} | {verdict} |")
  kills = [o for o in outcomes if o.kill]
  lines.append("")
  lines.append(
      f"{len(kills)} kills ({sum(o.kill == 'checkpoint write' for o in kills)} during checkpoint"
      f" writes, {sum(o.kill == 'final evaluation' for o in kills)} during the final"
      f" evaluation), {sum(o.identical for o in kills)} resumed to an identical final state."
  )
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="a handful of faults")
  parser.add_argument("--out", default=None, help="results directory (default: a temp dir)")
  parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
  parser.add_argument("--only", default=None, metavar="WORD",
                      help="run only the cases whose function name contains WORD")
  parser.add_argument("--no-compile-cache", action="store_true",
                      help="compile in every run instead of sharing a JAX cache")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="fault_injection_")).absolute()
  out.mkdir(parents=True, exist_ok=True)
  h = Harness(out, compile_cache=not args.no_compile_cache, rng=random.Random(args.seed))
  start = time.perf_counter()
  h.make_reference()
  print(f"reference run: {h.reference_seconds:.1f} s ({h.reference})", flush=True)

  counts = dict(random=2, write=2, val=1, final=1, concurrent=1) if args.quick else dict(
      random=14, write=9, val=4, final=5, concurrent=2)
  plan: list[tuple[Callable[..., Outcome], tuple[Any, ...]]] = []
  plan += [(kill_at_random_time, (i,)) for i in range(counts["random"])]
  plan += [(kill_during_checkpoint_write, (i,)) for i in range(counts["write"])]
  plan += [(kill_after_validation, (i,)) for i in range(counts["val"])]
  plan += [(kill_during_final_evaluation, (i,)) for i in range(counts["final"])]
  damages = ["random_bytes"] if args.quick else ["random_bytes", "no_manifest",
                                                  "truncated_progress"]
  plan += [(damaged_checkpoint, (d,)) for d in damages]
  plan += [(damaged_log, ())]
  if not args.quick:
    plan += [(damaged_config, ()), (removed_checkpoints, ())]
  plan += [(concurrent_runs, (i,)) for i in range(counts["concurrent"])]
  plan += [(read_only_directory, ()), (full_disk, ())]
  if args.only:
    plan = [(function, extra) for function, extra in plan if args.only in function.__name__]

  outcomes = []
  for number, (function, extra) in enumerate(plan, start=1):
    outcome = function(h, *extra)
    outcomes.append(outcome)
    print(f"[{number}/{len(plan)}] {outcome.fault}: {outcome.outcome}"
          f"{' (' + outcome.note + ')' if outcome.note else ''} -> identical"
          f" {'yes' if outcome.identical else 'NO'}", flush=True)
  result = table(outcomes)
  elapsed = time.perf_counter() - start
  command = "python experiments/fault_injection.py" + (" --quick" if args.quick else "")
  text = f"{result}\n\n({command}, seed {args.seed}: {elapsed / 60:.1f} min)"
  print("\n" + text)
  (out / "fault_injection.md").write_text(text + "\n")
  failed = [o for o in outcomes if not o.identical]
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
