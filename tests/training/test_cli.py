"""`train`, `evaluate` and `predict` from the command line (in-process `main`)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from entropy_attention_jax.cli import main

from tests.data.conftest import pems_values
from tests.training.conftest import train_args


def test_flags_override_presets_and_sets(tmp_path, capsys):
  # --print-config reads the data (to resolve the model): a tiny file in PeMS08's format.
  manual = tmp_path / "manual"
  manual.mkdir()
  np.savez(manual / "PEMS08.npz", data=pems_values("PEMS08"))
  data_dir = tmp_path / "tfds"
  assert main([
      "train", "--dataset", "pems08", "--workdir", "unused", "--size", "small",
      "--set", "train.epochs=9", "--epochs", "4", "--spatial-attention", "softmax",
      "--temporal-attention", "linear", "--seed", "3", "--data-dir", str(data_dir),
      "--manual-dir", str(manual), "--print-config",
  ]) == 0
  config = json.loads(capsys.readouterr().out)
  assert config["train"]["epochs"] == 4 and config["train"]["seed"] == 3
  assert config["model"]["spatial_attention"] == "softmax"
  assert config["model"]["temporal_attention"] == "linear"
  assert config["model"]["input_embedding_dim"] == 16 and config["model"]["input_dim"] == 3
  assert config["data"]["data_dir"] == str(data_dir) and config["optim"]["milestones"] == [25, 45, 65]
  assert (config["data"]["in_steps"], config["data"]["out_steps"]) == (12, 12)
  assert config["data"]["scaling"] == "global"


def test_dataset_flags_become_builder_options(tmp_path, capsys):
  assert main([
      "train", "--dataset", "synthetic_traffic", "--workdir", "unused", "--nodes", "30",
      "--data-seed", "2", "--data-dir", str(tmp_path), "--print-config",
  ]) == 0
  config = json.loads(capsys.readouterr().out)
  assert config["data"]["builder_options"] == {"nodes": 30, "days": 14, "seed": 2}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--set", "train.epochs=many"], "train.epochs must be an integer, got 'many'"),
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--size", "huge"], "unknown preset 'huge' (a model size overlay)"),
        (["--spatial-attention", "quadratic"], "unknown spatial_attention='quadratic'"),
    ],
)
def test_bad_train_arguments_exit_1_with_one_line(argv, message, tmp_path, data_dir, capsys):
  args = ["train", "--dataset", "synthetic_traffic", "--workdir", str(tmp_path / "w"),
          "--data-dir", str(data_dir), "--nodes", "6", "--days", "2", *argv]
  assert main(args) == 1
  err = capsys.readouterr().err
  assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_evaluate_and_predict_a_trained_run(trained_run, tmp_path, capsys):
  workdir, metrics, _ = trained_run
  assert main(["evaluate", "--workdir", str(workdir)]) == 0
  out = capsys.readouterr().out
  assert "test metrics, best checkpoint" in out and f"| average | {metrics['mae']:.3f} |" in out
  assert json.loads((workdir / "test_metrics.json").read_text()) == metrics
  output = tmp_path / "val.npz"
  argv = ["predict", "--workdir", str(workdir), "--split", "val", "--output", str(output)]
  assert main(argv) == 0
  assert f"wrote val predictions to {output}" in capsys.readouterr().out
  with np.load(output) as archive:
    assert archive["predictions"].shape == (104, 12, 6, 1)


def test_errors_of_evaluate_and_of_resuming_another_config(trained_run, data_dir, tmp_path, capsys):
  assert main(["evaluate", "--workdir", str(tmp_path)]) == 1
  assert "holds no training run" in capsys.readouterr().err
  workdir = tmp_path / "run"
  shutil.copytree(trained_run[0], workdir)
  assert main([*train_args(data_dir, workdir), "--set", "optim.learning_rate=0.01"]) == 1
  assert "optim.learning_rate: stored 0.001, requested 0.01" in capsys.readouterr().err
