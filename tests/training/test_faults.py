"""Faults end in one `error:` line and lose nothing: removed checkpoints, damaged
checkpoints (no Orbax noise), file-system faults, non-finite losses and metrics,
damaged metrics logs.

CLI cases run `python -m entropy_attention_jax` in a subprocess and check the
exit status and that stderr is exactly one `error:` line. The read-only and
full-disk cases mount a small tmpfs; where `mount` is not allowed they skip
(the translation of the same OS errors is tested in-process either way).
"""

from __future__ import annotations

import errno
import hashlib
import json
import pathlib
import shutil
import subprocess

import jax.numpy as jnp
import pytest

from entropy_attention_jax.cli import _guard
from entropy_attention_jax.training import (
    CheckpointError,
    IncompatibleRunError,
    read_metrics_log,
    train,
)
from entropy_attention_jax.training import loop
from entropy_attention_jax.training.checkpoint import error_summary
from entropy_attention_jax.training.metrics_log import LogError

from tests.training.conftest import cli, tiny_config, train_args


def _snapshot(workdir: pathlib.Path) -> dict[str, str]:
  """SHA-256 of every file under `workdir` except the lock (what must not change)."""
  return {
      str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest()
      for p in sorted(workdir.rglob("*")) if p.is_file() and p.name != ".lock"
  }


def _copy(trained_run, tmp_path: pathlib.Path, name: str = "run") -> pathlib.Path:
  workdir = tmp_path / name
  shutil.copytree(trained_run[0], workdir)
  return workdir


def _run_cli(args, env) -> tuple[int, str, str]:
  process = cli(*args, env=env)
  out, err = process.communicate(timeout=300)
  return process.returncode, out, err


def _one_error_line(err: str) -> str:
  lines = err.splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), err[-3000:]
  return lines[0]


# Item 2: a run whose checkpoints are gone is not trained over from step 0.


def test_results_without_checkpoints_are_refused_and_kept(
    trained_run, data_dir, subprocess_env, tmp_path
):
  workdir = _copy(trained_run, tmp_path)
  shutil.rmtree(workdir / "checkpoints")
  shutil.rmtree(workdir / "best")
  before, entries = _snapshot(workdir), sorted(p.name for p in workdir.iterdir())
  code, _, err = _run_cli(train_args(data_dir, workdir), subprocess_env)
  assert code == 1
  line = _one_error_line(err)
  records = len(read_metrics_log(workdir))
  assert f"{workdir / 'metrics.jsonl'} ({records} records)" in line
  assert str(workdir / "test_metrics.json") in line and "refusing to train over them" in line
  assert _snapshot(workdir) == before
  assert sorted(p.name for p in workdir.iterdir()) == entries  # No empty checkpoints/ left.


def test_a_fresh_run_starts_with_a_step_0_checkpoint(data_dir, tmp_path):
  """What makes the refusal above safe: a log never exists without a checkpoint."""
  workdir = tmp_path / "fresh"
  seen: list[list[str]] = []
  original = loop.MetricsLog

  def log_after_checkpoint(*args, **kwargs):
    seen.append(sorted(p.name for p in (workdir / "checkpoints").iterdir()))
    return original(*args, **kwargs)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(loop, "MetricsLog", log_after_checkpoint)
    patch.setattr(loop._Trainer, "fit", lambda self, state, progress: (state, progress, None))
    train(tiny_config(data_dir), workdir, evaluate_test=False, show_progress=False,
          echo=lambda _: None)
  assert seen == [["0"]]


def test_a_missing_best_model_that_the_latest_checkpoint_records_is_refused(
    trained_run, data_dir, tmp_path
):
  workdir = _copy(trained_run, tmp_path)
  shutil.rmtree(workdir / "best")
  with pytest.raises(CheckpointError, match=r"records a best model at step \d+, but .*best holds"
                     " none"):
    train(tiny_config(data_dir), workdir, show_progress=False, echo=lambda _: None)
  assert not (workdir / "best").exists()


def test_steps_a_kill_kept_beyond_max_to_keep_are_pruned_on_resume(trained_run, data_dir, tmp_path):
  """A kill between a commit and Orbax's removal of the oldest step leaves three."""
  workdir = _copy(trained_run, tmp_path)
  shutil.copytree(workdir / "checkpoints" / "75", workdir / "checkpoints" / "60")
  best = _steps(workdir / "best")[0]
  shutil.copytree(workdir / "best" / str(best), workdir / "best" / "1")
  train(tiny_config(data_dir), workdir, show_progress=False, echo=lambda _: None)
  assert _steps(workdir / "checkpoints") == [75, 80] and _steps(workdir / "best") == [best]


# Item 4: a damaged checkpoint gives its one line and nothing else.


@pytest.mark.parametrize("damage", ["random_bytes", "no_manifest"])
def test_a_damaged_checkpoint_is_one_line_without_orbax_noise(
    trained_run, data_dir, subprocess_env, tmp_path, damage
):
  workdir = _copy(trained_run, tmp_path)
  state = workdir / "checkpoints" / "80" / "state"
  if damage == "random_bytes":
    for index, path in enumerate(sorted((state / "ocdbt.process_0" / "d").iterdir())):
      path.write_bytes(hashlib.sha256(str(index).encode()).digest() * (path.stat().st_size // 32))
  else:
    (state / "manifest.ocdbt").unlink()
  before = _snapshot(workdir)
  code, _, err = _run_cli(train_args(data_dir, workdir), subprocess_env)
  assert code == 1
  line = _one_error_line(err)
  assert f"cannot restore the latest checkpoint {state.parent}" in line
  assert "See full TensorStore details" not in line
  assert _snapshot(workdir) == before


# Item 3: file-system faults.


def test_os_errors_become_one_line_naming_the_path(capsys):
  def full():
    raise OSError(errno.ENOSPC, "No space left on device", "/runs/w/metrics.jsonl")

  assert _guard.run_guarded(full) == 1
  err = capsys.readouterr().err
  assert err == (
      "error: /runs/w/metrics.jsonl: No space left on device; free space, then run the same"
      " command again (train resumes from its last complete checkpoint).\n"
  )

  def read_only():
    raise OSError(errno.EROFS, "Read-only file system", "/runs/w/.lock")

  assert _guard.run_guarded(read_only) == 1
  assert "error: /runs/w/.lock: Read-only file system; the work directory must be on a" in (
      capsys.readouterr().err
  )
  tensorstore = ValueError(
      'RESOURCE_EXHAUSTED: Error writing local file "/runs/w/checkpoints/9.orbax-checkpoint-tmp/'
      'state/_sharding": Failed to write 9923 bytes to file 4: No space left on device\n'
      "  File spec: {...}"
  )
  assert error_summary(tensorstore) == (
      "No space left on device (writing /runs/w/checkpoints/9.orbax-checkpoint-tmp/state/_sharding)"
  )
  spec = ValueError("Encountered error while reading array index. See full TensorStore details:"
                    " <spec of TensorStore({\n  'base': {...}\n})>")
  assert error_summary(spec) == "Encountered error while reading array index"


def test_a_workdir_that_is_a_file_is_one_cli_line(data_dir, subprocess_env, tmp_path):
  path = tmp_path / "file"
  path.write_text("x")
  code, _, err = _run_cli(train_args(data_dir, path), subprocess_env)
  assert code == 1
  assert f"--workdir {path} is a file, not a directory" in _one_error_line(err)
  assert path.read_text() == "x"


@pytest.fixture
def tmpfs(tmp_path):
  """A mounting function for small tmpfs file systems, unmounted afterwards (or skip)."""
  mounted: list[pathlib.Path] = []

  def mount(path: pathlib.Path, size: str) -> pathlib.Path:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
      pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the error"
                  " translation is covered by test_os_errors_become_one_line_naming_the_path")
    mounted.append(path)
    return path

  yield mount
  for path in reversed(mounted):
    subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_read_only_workdir_is_one_line_and_unchanged(
    trained_run, data_dir, subprocess_env, tmp_path, tmpfs
):
  mount = tmpfs(tmp_path / "ro", "4m")
  workdir = _copy(trained_run, mount, "run")
  before = _snapshot(workdir)
  remount = subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=False)
  if remount.returncode != 0:
    pytest.skip("cannot remount the tmpfs read-only here")
  for args in (train_args(data_dir, workdir), ["evaluate", "--workdir", str(workdir)]):
    code, _, err = _run_cli(args, subprocess_env)
    assert code == 1
    line = _one_error_line(err)
    assert f"cannot create the lock file {workdir / '.lock'}: Read-only file system" in line
  assert _snapshot(workdir) == before


@pytest.mark.slow
def test_a_full_disk_is_one_line_then_resumes_to_the_same_result(
    trained_run, data_dir, subprocess_env, tmp_path, tmpfs
):
  mount = tmpfs(tmp_path / "full", "700k")  # The step-0 and first checkpoints fit, not all.
  workdir = mount / "run"
  args = train_args(data_dir, workdir)
  code, _, err = _run_cli(args, subprocess_env)
  assert code == 1
  line = _one_error_line(err)
  assert "No space left on device" in line and str(workdir) in line
  subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
  code, out, err = _run_cli(args, subprocess_env)
  assert code == 0, err
  assert "resuming" in out
  metrics = json.loads((workdir / "test_metrics.json").read_text())
  flat = lambda m: [m[k] for k in ("mae", "rmse", "mape")] + [  # noqa: E731
      h[k] for _, h in sorted(m["horizons"].items()) for k in ("mae", "rmse", "mape")]
  assert flat(metrics) == pytest.approx(flat(trained_run[1]), rel=1e-6)


# Item 5: a non-finite loss or metric stops the run naming the step; good checkpoints kept.


def _steps(directory: pathlib.Path) -> list[int]:
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def test_a_non_finite_loss_stops_at_its_step_keeping_the_checkpoints(
    trained_run, data_dir, tmp_path, monkeypatch
):
  workdir = _copy(trained_run, tmp_path)
  real_jit = loop.jit_train_step
  calls = [0]

  def jit_with_nan_at_step_92(*args, **kwargs):
    jitted = real_jit(*args, **kwargs)

    def run(state, batch):
      state, measurements = jitted(state, batch)
      calls[0] += 1
      if calls[0] == 12:  # Resumed at step 80.
        measurements = dict(measurements, loss=jnp.float32(jnp.nan))
      return state, measurements

    return run

  monkeypatch.setattr(loop, "jit_train_step", jit_with_nan_at_step_92)
  with pytest.raises(FloatingPointError, match=r"the training loss is nan .* at step 92 \(epoch 3\)"):
    train(tiny_config(data_dir, train__epochs=3), workdir, show_progress=False,
          echo=lambda _: None)
  assert _steps(workdir / "checkpoints") == [80, 90]  # 90 is good; 92 was never saved.


def _inject_inf(monkeypatch, split_name: str, after: int = 0):
  """Makes the `after`-th and later evaluations of a split return an infinite RMSE."""
  real = loop.evaluate_split
  seen = [0]

  def evaluate_split(run, eval_step, variables, split):
    result = real(run, eval_step, variables, split)
    if split is run.data.splits[split_name]:
      seen[0] += 1
      if seen[0] > after:
        result = dict(result, rmse=float("inf"))
    return result

  monkeypatch.setattr(loop, "evaluate_split", evaluate_split)


def test_a_non_finite_validation_metric_stops_the_run_before_any_save(
    trained_run, data_dir, tmp_path, monkeypatch
):
  workdir = _copy(trained_run, tmp_path)
  best_before = _steps(workdir / "best")
  _inject_inf(monkeypatch, "val")
  with pytest.raises(FloatingPointError) as error:
    train(tiny_config(data_dir, train__epochs=3), workdir, show_progress=False,
          echo=lambda _: None)
  assert "the validation metrics at step 120 (epoch 3; earlier checkpoints kept) are not finite"\
      " (rmse)" in str(error.value)
  assert _steps(workdir / "checkpoints") == [90, 105]  # The mid-epoch saves; not 120.
  assert _steps(workdir / "best") == best_before
  assert all(r["step"] < 120 for r in read_metrics_log(workdir) if r["kind"] == "val")


def test_non_finite_test_metrics_are_an_error_and_not_written(
    trained_run, data_dir, subprocess_env, tmp_path, monkeypatch
):
  workdir = _copy(trained_run, tmp_path)
  before = (workdir / "test_metrics.json").read_bytes()
  _inject_inf(monkeypatch, "test")
  with pytest.raises(FloatingPointError, match=r"the test metrics of the best checkpoint \(step"
                     r" \d+\) are not finite \(rmse\)"):
    train(tiny_config(data_dir), workdir, show_progress=False, echo=lambda _: None)
  assert (workdir / "test_metrics.json").read_bytes() == before  # not overwritten


# Item 11: the kept part of the metrics log is checked on resume.


@pytest.mark.parametrize("edit", ["garbled_bytes", "valid_json_edit", "cut_mid_line"])
def test_a_damaged_metrics_log_is_refused_naming_the_file_and_line(
    trained_run, data_dir, tmp_path, edit
):
  workdir = _copy(trained_run, tmp_path)
  log = workdir / "metrics.jsonl"
  lines = log.read_bytes().splitlines(keepends=True)
  if edit == "garbled_bytes":  # The case: 20 bytes garbled in place, same size.
    lines[2] = lines[2][:10] + bytes(range(0x80, 0x94)) + lines[2][30:]
  elif edit == "valid_json_edit":  # Still a valid record of the same size.
    assert b'"step": 30,' in lines[2]
    lines[2] = lines[2].replace(b'"step": 30,', b'"step": 31,')
  else:
    lines[-1] = lines[-1][:-5]
    lines.append(b'{"kind": "x", "step": 1}\n')
  log.write_bytes(b"".join(lines))
  before = _snapshot(workdir)
  expected = {
      "garbled_bytes": f"{log}: line 3 is not a valid log record",
      "valid_json_edit": f"{log}: its first .* bytes .* are not what the checkpoint being resumed"
                         " recorded",
      "cut_mid_line": f"{log}: the checkpoint being resumed was saved after .* bytes, which ends"
                      " inside line",
  }[edit]
  with pytest.raises(LogError, match=expected):
    train(tiny_config(data_dir, train__epochs=3), workdir, show_progress=False,
          echo=lambda _: None)
  assert _snapshot(workdir) == before
  assert issubclass(LogError, ValueError) and not issubclass(LogError, IncompatibleRunError)
