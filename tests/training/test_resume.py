"""A run SIGKILLed mid-epoch resumes and ends exactly like an uninterrupted one."""

from __future__ import annotations

import json
import re
import shutil
import signal
import time

import numpy as np
import pytest

from entropy_attention_jax.training import read_metrics_log

from tests.training.conftest import cli, train_args

_CLOCK_FIELDS = ("time", "elapsed_s")


def _without_clock(records: list[dict]) -> list[dict]:
  return [{k: v for k, v in r.items() if k not in _CLOCK_FIELDS} for r in records]


def _committed_steps(workdir) -> list[int]:
  """Complete checkpoints after step 0 (a fresh run saves step 0 before training)."""
  directory = workdir / "checkpoints"
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and p.name != "0")


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(
    trained_run, data_dir, subprocess_env, tmp_path
):
  reference, reference_metrics, _ = trained_run  # the same config, never interrupted
  workdir = tmp_path / "killed"
  # Checkpoints every 7 steps of the 40-step epochs (the reference saved every 15:
  # a key that may differ without changing any number).
  args = train_args(data_dir, workdir, train__checkpoint_every_steps=7)

  process = cli(*args, env=subprocess_env)
  deadline = time.monotonic() + 300
  while not _committed_steps(workdir):  # Kill as soon as the first checkpoint is complete.
    assert process.poll() is None, process.communicate()
    assert time.monotonic() < deadline, "no checkpoint was written"
    time.sleep(0.001)
  process.send_signal(signal.SIGKILL)
  out, err = process.communicate()
  assert process.returncode == -signal.SIGKILL, err
  assert not (workdir / "test_metrics.json").exists()
  assert "epoch 1/2" not in out  # killed before the first epoch ended

  resumed = cli(*args, env=subprocess_env)
  out, err = resumed.communicate(timeout=300)
  assert resumed.returncode == 0, err
  match = re.search(r"resuming \S+ at step (\d+) \(epoch 1, batch (\d+)\)", out)
  assert match, out
  assert int(match.group(1)) % 7 == 0 and 0 < int(match.group(2)) < 40  # mid-epoch

  metrics = json.loads((workdir / "test_metrics.json").read_text())
  np.testing.assert_allclose(
      [metrics[m] for m in ("mae", "rmse", "mape")],
      [reference_metrics[m] for m in ("mae", "rmse", "mape")], rtol=1e-6,
  )
  for horizon, values in reference_metrics["horizons"].items():
    stored = metrics["horizons"][horizon]
    np.testing.assert_allclose([stored[m] for m in values], list(values.values()), rtol=1e-6)
  # Every log event exactly once, with the same numbers.
  records = _without_clock(read_metrics_log(workdir))
  expected = _without_clock(read_metrics_log(reference))
  assert [(r["kind"], r["step"]) for r in records] == [(r["kind"], r["step"]) for r in expected]
  for record, reference_record in zip(records, expected):
    for key, value in reference_record.items():
      if isinstance(value, float):
        where = f"{key} at step {record['step']}"
        np.testing.assert_allclose(record[key], value, rtol=1e-6, err_msg=where)
      else:
        assert record[key] == value


@pytest.mark.slow
def test_more_epochs_continue_a_finished_run(trained_run, data_dir, subprocess_env, tmp_path):
  workdir = tmp_path / "longer"
  shutil.copytree(trained_run[0], workdir)
  before = read_metrics_log(workdir)
  process = cli(*train_args(data_dir, workdir, train__epochs=3), env=subprocess_env)
  out, err = process.communicate(timeout=300)
  assert process.returncode == 0, err
  assert "resuming" in out and "epoch 3/3  step 120" in out
  records = read_metrics_log(workdir)
  assert records[: len(before)] == before
  assert [(r["kind"], r["step"]) for r in records[len(before) :]] == [
      ("train", 90), ("train", 100), ("train", 110), ("train", 120), ("val", 120)
  ]
  assert json.loads((workdir / "config.json").read_text())["train"]["epochs"] == 3
