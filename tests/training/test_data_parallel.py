"""Training on 4 forced CPU devices gives the losses of training on one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from entropy_attention_jax.training import read_metrics_log

from tests.training.conftest import cli, train_args


def _train(data_dir, workdir, env):
  process = cli(*train_args(data_dir, workdir), env=env)
  out, err = process.communicate(timeout=300)
  assert process.returncode == 0, err
  return out


@pytest.mark.slow
def test_four_devices_match_one_device(data_dir, subprocess_env, tmp_path):
  # Both runs with XLA's default optimisation (not the suite's fast-compile
  # flags): unoptimised programs round differently enough on 1 and 4 devices
  # to drift past 1e-4 in two epochs.
  env = {k: v for k, v in subprocess_env.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
  reference = tmp_path / "one"
  _train(data_dir, reference, env)
  reference_metrics = json.loads((reference / "test_metrics.json").read_text())
  workdir = tmp_path / "four"
  out = _train(data_dir, workdir, dict(env, XLA_FLAGS="--xla_force_host_platform_device_count=4"))
  # Batches of 8 are split 2 per device; evaluation batches of 6 are padded to 8.
  assert "4 device(s) (cpu)" in out

  records, expected = read_metrics_log(workdir), read_metrics_log(reference)
  assert [(r["kind"], r["step"]) for r in records] == [(r["kind"], r["step"]) for r in expected]
  first = [r["train_loss"] for r in records if r["kind"] == "train"]
  first_expected = [r["train_loss"] for r in expected if r["kind"] == "train"]
  # Same samples, same dropout masks (partitionable threefry); only the order
  # of the cross-device sums differs.
  np.testing.assert_allclose(first, first_expected, rtol=1e-4)
  val = [r["val_mae"] for r in records if r["kind"] == "val"]
  np.testing.assert_allclose(val, [r["val_mae"] for r in expected if r["kind"] == "val"], rtol=1e-4)
  metrics = json.loads((workdir / "test_metrics.json").read_text())
  np.testing.assert_allclose(metrics["mae"], reference_metrics["mae"], rtol=1e-4)
