"""Shared fixtures: a tiny synthetic dataset, tiny configs and one trained run.

Everything is sized for seconds: 6 nodes x 2 days of 5-minute steps (323
training, 104 validation and 104 test windows), the "tiny" model overlay
(width 16, one temporal and one spatial layer), training batches of 8 and
evaluation batches of 6. Subprocess tests share a JAX compilation cache
so that each program is compiled once per session.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from entropy_attention_jax import training

DATA_OPTIONS = {"nodes": 6, "days": 2, "seed": 0}
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def tiny_overrides(data_dir: pathlib.Path, **extra) -> list[str]:
  """`--set` overrides of the tiny test runs (extra ones as `section__key=value`)."""
  overrides = [f"data.data_dir={data_dir}"]
  overrides += [f"data.builder_options.{k}={v}" for k, v in DATA_OPTIONS.items()]
  overrides += [
      # 104 validation and test windows: the last evaluation batch is padded.
      "train.batch_size=8", "train.eval_batch_size=6", "train.epochs=2",
      "train.checkpoint_every_steps=15",
      "train.log_every_steps=10",
  ]
  overrides += [f"{key.replace('__', '.')}={value}" for key, value in extra.items()]
  return overrides


def tiny_config(data_dir: pathlib.Path, **extra) -> training.ExperimentConfig:
  return training.get_config(
      "synthetic_traffic", overlays=["tiny"], overrides=tiny_overrides(data_dir, **extra)
  )


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> pathlib.Path:
  """A data directory with the tiny synthetic dataset built."""
  path = tmp_path_factory.mktemp("tfds")
  training.load_data(tiny_config(path).data)
  return path


@pytest.fixture(scope="session")
def tiny_data(data_dir):
  return training.load_data(tiny_config(data_dir).data)


@pytest.fixture(scope="session")
def subprocess_env(tmp_path_factory) -> dict[str, str]:
  """Environment of CLI subprocesses: this checkout first, one compilation cache."""
  cache = tmp_path_factory.mktemp("jax_cache")
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
  env["JAX_COMPILATION_CACHE_DIR"] = str(cache)
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  return env


def cli(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
  """Starts `python -m entropy_attention_jax ARGS` (stdout and stderr piped)."""
  return subprocess.Popen(
      [sys.executable, "-m", "entropy_attention_jax", *args],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
  )


def train_args(data_dir: pathlib.Path, workdir: pathlib.Path, **extra) -> list[str]:
  """`train` arguments of a tiny run (see `tiny_overrides`)."""
  return [
      "train", "--dataset", "synthetic_traffic", "--preset", "tiny", "--workdir", str(workdir),
      "--no-progress", *(f"--set={o}" for o in tiny_overrides(data_dir, **extra)),
  ]


@pytest.fixture(scope="session")
def trained_run(data_dir, subprocess_env, tmp_path_factory) -> tuple[pathlib.Path, dict, list[str]]:
  """A finished 2-epoch run of the CLI: `(workdir, test metrics, stdout lines)`.

  It runs in a subprocess so that its compiled programs land in the shared
  cache, which the other tiny CLI runs then load.
  """
  workdir = tmp_path_factory.mktemp("runs") / "trained"
  process = cli(*train_args(data_dir, workdir), env=subprocess_env)
  out, err = process.communicate(timeout=600)
  assert process.returncode == 0, err
  metrics = json.loads((workdir / "test_metrics.json").read_text())
  return workdir, metrics, out.splitlines()
