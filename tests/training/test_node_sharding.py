"""Node sharding (`model.shard_nodes`) on 4 forced CPU devices.

The model runs in a subprocess (tests/training/node_sharding_worker.py, or
the CLI) with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``, since
this process's JAX is already initialised with its own devices.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from entropy_attention_jax.training import read_metrics_log
from entropy_attention_jax.training.sharding import make_mesh, node_shards

from tests.training.conftest import REPO_ROOT, cli, train_args

FOUR_DEVICES = "--xla_force_host_platform_device_count=4"
LINEAR_KINDS = ("eala", "eala:cumulant3", "linear", "taylor")


def test_the_nodes_axis_takes_the_largest_divisor_of_the_node_count():
  assert node_shards(8600, 4) == 4
  assert node_shards(6, 4) == 2  # 6 nodes on 4 devices: 2 data x 2 nodes.
  assert node_shards(7, 4) == 1
  mesh = make_mesh()
  assert dict(mesh.shape) == {"data": len(mesh.devices.flat), "nodes": 1}


def _four_devices(env: dict[str, str]) -> dict[str, str]:
  """`env` with 4 forced CPU devices, added to the suite's XLA flags (the references' flags)."""
  return dict(env, XLA_FLAGS=f"{env.get('XLA_FLAGS', '')} {FOUR_DEVICES}".strip())


@pytest.fixture(scope="module")
def worker_results(subprocess_env) -> dict[str, dict]:
  env = _four_devices(subprocess_env)
  result = subprocess.run(
      [sys.executable, "-m", "tests.training.node_sharding_worker", *LINEAR_KINDS, "softmax"],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  results = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
  return {r["kind"]: r for r in results}


@pytest.mark.slow
@pytest.mark.parametrize("kind", LINEAR_KINDS + ("softmax",))
def test_sharded_forward_and_gradient_equal_unsharded(worker_results, kind):
  result = worker_results[kind]
  assert result["forward_error"] < 1e-5
  assert result["gradient_error"] < 1e-5  # Relative to the largest gradient entry.


@pytest.mark.slow
def test_the_per_node_table_and_its_adam_moments_are_split_along_nodes(worker_results):
  tables = worker_results["eala"]["node_tables"]
  assert len(tables) == 3, tables  # The parameter, Adam's mu and nu.
  assert set(tables.values()) == {"P(None, 'nodes', None)"}, tables


@pytest.mark.slow
@pytest.mark.parametrize("kind", LINEAR_KINDS)
def test_linear_spatial_attention_all_reduces_statistics_and_gathers_no_keys(
    worker_results, kind
):
  result = worker_results[kind]
  for part in ("layer_collectives", "step_collectives"):
    ops = {c["op"] for c in result[part]}
    assert "all-reduce" in ops, (part, result[part])
    assert ops == {"all-reduce"}, (part, result[part])  # No all-gather of K or V.
  # The layer's reduced arrays are statistics [batch, steps, heads, d(, d)]:
  # no axis of them is the 64 nodes.
  for collective in result["layer_collectives"]:
    assert all(64 not in shape for shape in collective["shapes"]), collective


@pytest.mark.slow
def test_softmax_falls_back_to_an_all_gather_of_keys_and_values(worker_results):
  gathers = [c for c in worker_results["softmax"]["layer_collectives"] if c["op"] == "all-gather"]
  assert len(gathers) == 2  # K and V, every node.
  assert all(64 in c["shapes"][0] for c in gathers)


@pytest.mark.slow
def test_shard_nodes_training_equals_unsharded(trained_run, data_dir, subprocess_env, tmp_path):
  reference, reference_metrics, _ = trained_run  # One device, same config.
  env = _four_devices(subprocess_env)
  workdir = tmp_path / "sharded"
  process = cli(*train_args(data_dir, workdir), "--shard-nodes", env=env)
  out, err = process.communicate(timeout=400)
  assert process.returncode == 0, err[-3000:]
  assert "4 device(s) (cpu), mesh data 2 x nodes 2" in out  # 6 nodes over 2 devices.
  records, expected = read_metrics_log(workdir), read_metrics_log(reference)
  assert [(r["kind"], r["step"]) for r in records] == [(r["kind"], r["step"]) for r in expected]
  np.testing.assert_allclose([r["train_loss"] for r in records],
                             [r["train_loss"] for r in expected], rtol=1e-4)
  # After 80 Adam steps the rounding of the reordered sums has grown to ~1e-4.
  metrics = json.loads((workdir / "test_metrics.json").read_text())
  for name in ("mae", "rmse", "mape"):
    np.testing.assert_allclose(metrics[name], reference_metrics[name], rtol=1e-3)
