"""The training job in-process: files of a run, metrics, evaluation, prediction, errors."""

from __future__ import annotations

import json
import pathlib
import shutil
import struct

import jax
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from entropy_attention_jax.models import model_variables, restore_model
from entropy_attention_jax.training import (
    CheckpointError,
    ExperimentConfig,
    IncompatibleRunError,
    evaluate,
    load_model,
    predict,
    read_metrics_log,
    train,
)
from entropy_attention_jax.training.config import resolve

from tests.training.conftest import tiny_config
from tests.training.test_losses_metrics import staeformer_metrics

STEPS_PER_EPOCH = 40  # 323 training windows // 8


def _scalars(workdir: pathlib.Path) -> dict[str, list[tuple[int, float]]]:
  """TensorBoard scalars `{tag: [(step, value)]}`, read from the TFRecord event files."""
  scalars: dict[str, list[tuple[int, float]]] = {}
  for path in sorted((workdir / "tensorboard").glob("events.out.tfevents.*")):
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack("<Q", data[offset : offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
      offset += 12 + length + 4
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  return scalars


def test_a_run_stores_its_config_scaler_logs_and_checkpoints(trained_run, data_dir, tiny_data):
  workdir, _, lines = trained_run
  stored = ExperimentConfig.from_dict(json.loads((workdir / "config.json").read_text()))
  assert stored == resolve(tiny_config(data_dir), tiny_data)
  assert json.loads((workdir / "scaler.json").read_text()) == tiny_data.scaler.to_dict()
  # Every 15 steps and at epoch ends (40, 80); the two newest are kept.
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["75", "80"]
  val = [r for r in read_metrics_log(workdir) if r["kind"] == "val"]
  best_step = min(val, key=lambda r: r["val_mae"])["step"]
  assert [p.name for p in (workdir / "best").iterdir()] == [str(best_step)]
  assert any(line.startswith("data   synthetic_traffic: 6 nodes") for line in lines)
  assert any(line.startswith("epoch 2/2  step 80") for line in lines)


def test_metrics_log_has_each_event_once(trained_run):
  workdir, _, _ = trained_run
  records = read_metrics_log(workdir)
  train_steps = [r["step"] for r in records if r["kind"] == "train"]
  val = [r for r in records if r["kind"] == "val"]
  assert train_steps == list(range(10, 81, 10))
  assert [(r["step"], r["epoch"]) for r in val] == [(40, 1), (80, 2)]
  assert val[1]["best_val_mae"] == min(r["val_mae"] for r in val)
  for record in val:
    assert {"train_loss", "val_mae", "val_rmse", "val_mape", "learning_rate"} <= set(record)
    assert record["learning_rate"] == pytest.approx(1e-3)
  scalars = _scalars(workdir)
  assert [step for step, _ in scalars["train/train_loss"]] == train_steps
  np.testing.assert_allclose(
      [value for _, value in scalars["val/val_mae"]], [r["val_mae"] for r in val], rtol=1e-6
  )


def test_test_metrics_follow_the_interface_and_match_predictions(trained_run, tiny_data, tmp_path):
  workdir, result, _ = trained_run
  stored = json.loads((workdir / "test_metrics.json").read_text())
  assert stored == result
  assert set(stored) == {
      "mae", "rmse", "mape", "horizons", "nodes", "checkpoint", "step", "baselines", "skill",
      "best_baseline", "best_baseline_mae",
  }  # No "mae_scaled": synthetic traffic is scaled globally.
  assert set(stored["horizons"]) == {"3", "6", "12"}
  assert all(set(h) == {"mae", "rmse", "mape"} for h in stored["horizons"].values())
  assert set(stored["nodes"]) == {str(i) for i in range(6)}
  assert all(set(n) == {"mae", "rmse", "mape"} for n in stored["nodes"].values())
  assert stored["checkpoint"] == "best"
  assert set(stored["baselines"]) == {"last_value", "seasonal_naive", "window_mean"}
  for baseline in stored["baselines"].values():
    assert {"mae", "rmse", "mape", "horizons", "period"} <= set(baseline)
    assert baseline["period"] == 288  # A day of 5-minute steps.
  maes = {k: v["mae"] for k, v in stored["baselines"].items()}
  assert stored["best_baseline"] == min(maes, key=maes.get)
  assert stored["best_baseline_mae"] == min(maes.values())
  assert stored["skill"] == pytest.approx(1 - stored["mae"] / min(maes.values()))
  assert evaluate(workdir, echo=lambda _: None) == result  # best checkpoint by default

  path = predict(workdir, tmp_path / "predictions")  # the suffix is added
  assert path == tmp_path / "predictions.npz"
  with np.load(path) as archive:
    predictions, targets = archive["predictions"], archive["targets"]
    assert predictions.shape == targets.shape == (104, 12, 6, 1)
    np.testing.assert_array_equal(archive["target_steps"][:, 0], archive["starts"] + 12)
    best_step = int(archive["step"])
  assert best_step == int(next((workdir / "best").iterdir()).name) == stored["step"]
  expected = staeformer_metrics(predictions, targets)
  np.testing.assert_allclose([result["mae"], result["rmse"], result["mape"]], expected, rtol=1e-5)
  # Per node, the same masked MAE.
  node_error = np.abs(predictions - targets)[..., 0]
  node_mask = targets[..., 0] != 0
  node_mae = (node_error * node_mask).sum(axis=(0, 1)) / node_mask.sum(axis=(0, 1))
  np.testing.assert_allclose([result["nodes"][str(i)]["mae"] for i in range(6)], node_mae, rtol=1e-5)
  # The last-value baseline repeats each window's last input step (zeros carried over).
  with np.load(path) as archive:
    starts = archive["starts"]
  last = tiny_data.filled_target()[starts + 11][:, None, :, None]
  np.testing.assert_array_equal(tiny_data.filled_target()[:, 0] == 0, False)
  baseline_mae = (np.abs(last - targets) * (targets != 0)).sum() / (targets != 0).sum()
  np.testing.assert_allclose(stored["baselines"]["last_value"]["mae"], baseline_mae, rtol=1e-5)


def test_evaluate_the_latest_checkpoint_and_other_splits(trained_run):
  workdir, _, _ = trained_run
  lines: list[str] = []
  latest = evaluate(workdir, checkpoint="latest", split="val", echo=lines.append)
  assert "val metrics, latest checkpoint (step 80)" in lines[0]
  records = read_metrics_log(workdir)
  assert latest["mae"] == pytest.approx(records[-1]["val_mae"], rel=1e-6)
  assert json.loads((workdir / "val_metrics.json").read_text()) == latest
  with pytest.raises(ValueError, match="split must be one of"):
    evaluate(workdir, split="holdout")


def test_a_finished_run_is_not_trained_again(trained_run, data_dir, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(trained_run[0], workdir)
  log = (workdir / "metrics.jsonl").read_bytes()
  lines: list[str] = []
  result = train(tiny_config(data_dir), workdir, show_progress=False, echo=lines.append)
  assert (workdir / "metrics.jsonl").read_bytes() == log
  assert any("is finished (epochs) at step 80" in line for line in lines)
  assert result == trained_run[1]


def test_another_config_in_the_same_workdir_is_refused(trained_run, data_dir, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(trained_run[0], workdir)
  other = tiny_config(data_dir, model__spatial_attention="softmax", train__batch_size=4)
  with pytest.raises(IncompatibleRunError) as error:
    train(other, workdir, show_progress=False, echo=lambda _: None)
  message = str(error.value)
  assert str(workdir) in message
  assert "model.spatial_attention: stored 'eala', requested 'softmax'" in message
  assert "train.batch_size: stored 8, requested 4" in message
  # A refused run changes nothing.
  config = json.loads((workdir / "config.json").read_text())
  assert config["train"]["epochs"] == 2


@pytest.mark.parametrize("damage", ["truncate", "garbage_progress"])
def test_a_corrupt_checkpoint_is_an_error_not_a_fresh_start(
    trained_run, data_dir, tmp_path, damage
):
  workdir = tmp_path / "run"
  shutil.copytree(trained_run[0], workdir)
  latest = workdir / "checkpoints" / "80"
  if damage == "truncate":
    for path in (latest / "state").rglob("*"):
      if path.is_file():
        path.write_bytes(path.read_bytes()[:7])
  else:
    (latest / "progress" / "metadata").write_text("{not json")
  log = (workdir / "metrics.jsonl").read_bytes()
  with pytest.raises(CheckpointError) as error:
    train(tiny_config(data_dir), workdir, show_progress=False, echo=lambda _: None)
  assert f"{workdir}: cannot restore the latest checkpoint {latest}" in str(error.value)
  assert f"Remove {latest} to fall back" in str(error.value)
  assert (workdir / "metrics.jsonl").read_bytes() == log  # nothing was touched
  with pytest.raises(CheckpointError, match="cannot restore the latest checkpoint"):
    evaluate(workdir, checkpoint="latest", echo=lambda _: None)


def test_missing_latest_checkpoints_are_an_error(trained_run, data_dir, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(trained_run[0], workdir)
  shutil.rmtree(workdir / "checkpoints")
  with pytest.raises(CheckpointError, match="has a best checkpoint .* but no latest one"):
    train(tiny_config(data_dir), workdir, show_progress=False, echo=lambda _: None)


def test_load_model_gives_the_predictions_of_predict(trained_run, tiny_data, tmp_path):
  workdir, result, _ = trained_run
  loaded = load_model(workdir)
  assert loaded.step == result["step"]
  assert loaded.config == ExperimentConfig.from_dict(
      json.loads((workdir / "config.json").read_text())
  )
  with np.load(predict(workdir, tmp_path / "test.npz")) as archive:
    expected = archive["predictions"]
  forward = jax.jit(lambda x: loaded.scaler.inverse_transform(loaded.model(x)))
  batch_size = loaded.config.train.resolved_eval_batch_size
  predictions = np.concatenate([forward(b["x"]) for b in tiny_data.test.batches(batch_size)])
  # Equal up to float32 rounding: `predict` runs another XLA program (sharded, padded batches).
  np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-4)
  # The same format as save_model's: restore_model reads a run's best checkpoint.
  best = next((workdir / "best").iterdir())
  restored = restore_model(best, loaded.model)
  jax.tree.map(np.testing.assert_array_equal,
               model_variables(restored), model_variables(loaded.model))
  latest = load_model(workdir, checkpoint="latest")
  assert latest.step == 80
  with pytest.raises(ValueError, match="checkpoint must be one of"):
    load_model(workdir, checkpoint="final")


def test_not_a_run(tmp_path):
  with pytest.raises(IncompatibleRunError, match="holds no training run: config.json is missing"):
    evaluate(tmp_path, echo=lambda _: None)
