"""The jitted steps: one trace, learning, dropout keyed by step, padding, exact save/restore."""

from __future__ import annotations

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.training.checkpoint import RunCheckpoints
from entropy_attention_jax.training.config import resolve
from entropy_attention_jax.training.loop import build_run, evaluate_split
from entropy_attention_jax.training.sharding import pad_batch, shard_batch
from entropy_attention_jax.training.state import Progress
from entropy_attention_jax.training.steps import (
    jit_eval_step,
    jit_train_step,
    make_predict_step,
    make_train_step,
)

from tests.training.conftest import tiny_config
from tests.training.test_losses_metrics import staeformer_metrics


@pytest.fixture(scope="module")
def run(data_dir, tiny_data, tmp_path_factory):
  config = resolve(tiny_config(data_dir), tiny_data)
  return build_run(config, tiny_data, tmp_path_factory.mktemp("steps"))


@pytest.fixture(scope="module")
def train_step(run):
  chex.clear_trace_counter()
  step = make_train_step(run.model_def, run.optimizer, run.data.scaler)
  return jit_train_step(chex.assert_max_traces(step, n=1), run.mesh)


def _copy(state):
  """A copy of a state (the train step donates its input)."""
  return jax.tree.map(jnp.copy, state)


def _batches(run, count: int, epoch: int = 0):
  batches = run.data.train.batches(8, shuffle=True, seed=0, epoch=epoch, drop_remainder=True)
  batches = itertools.islice(batches, count)
  return [shard_batch(pad_batch(b, run.train_rows), run.mesh) for b in batches]


def test_train_step_compiles_once_and_learns(run, train_step):
  state = _copy(run.initial_state)
  losses = []
  for batch in _batches(run, 12):
    state, measurements = train_step(state, batch)
    losses.append(float(measurements["loss"]))
    assert np.isfinite(float(measurements["grad_norm"]))
  assert int(state.step) == 12
  assert np.mean(losses[-4:]) < losses[0]
  before, after = jax.tree.leaves(run.initial_state.params), jax.tree.leaves(state.params)
  assert all(a.shape == b.shape for a, b in zip(before, after))
  assert any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_dropout_depends_only_on_seed_and_step(run, train_step):
  batch = _batches(run, 1)[0]
  first, m1 = train_step(_copy(run.initial_state), batch)
  again, m2 = train_step(_copy(run.initial_state), batch)
  assert float(m1["loss"]) == float(m2["loss"])
  chex.assert_trees_all_equal(first.params, again.params)
  step = jax.device_put(jnp.asarray(5, jnp.int32), run.initial_state.step.sharding)
  later = _copy(run.initial_state).replace(step=step)
  _, m3 = train_step(later, batch)
  assert float(m3["loss"]) != float(m1["loss"])  # another step, other dropout masks


def test_padding_rows_have_no_influence(run, train_step):
  batch = next(run.data.train.batches(8, shuffle=True, seed=0, epoch=0))
  real = {name: value[:6] for name, value in batch.items()}
  padded = pad_batch(real, 8)
  # Same shape (so the same dropout masks), other samples in the padding rows.
  other = dict(padded, x=batch["x"], y=batch["y"])
  _, m1 = train_step(_copy(run.initial_state), shard_batch(padded, run.mesh))
  s2, m2 = train_step(_copy(run.initial_state), shard_batch(other, run.mesh))
  s1, _ = train_step(_copy(run.initial_state), shard_batch(padded, run.mesh))
  assert float(m1["loss"]) == float(m2["loss"])
  chex.assert_trees_all_close(s1.params, s2.params, rtol=1e-6, atol=1e-7)


def test_save_then_restore_gives_an_identical_next_step(run, train_step, tmp_path):
  batches = _batches(run, 3)
  state = _copy(run.initial_state)
  state, _ = train_step(state, batches[0])
  progress = Progress(step=1, batch_in_epoch=1)
  with RunCheckpoints(tmp_path) as checkpoints:
    checkpoints.save_latest(state, progress)
    checkpoints.wait()
    restored, restored_progress = checkpoints.restore_latest(run.initial_state)
  assert restored_progress == progress
  chex.assert_trees_all_equal(restored, state)
  for batch in batches[1:]:
    state, m1 = train_step(state, batch)
    restored, m2 = train_step(restored, batch)
    assert float(m1["loss"]) == float(m2["loss"])
  chex.assert_trees_all_equal(restored.params, state.params)


def test_eval_sums_equal_metrics_of_the_predictions(run):
  variables = run.initial_state.model_variables
  split = run.data.test
  assert len(split) % run.eval_rows  # so the last batch is padded
  result = evaluate_split(run, run.jitted_eval_step(), variables, split)
  assert result["mae"] > 0
  predict_step = jit_eval_step(
      make_predict_step(run.model_def, run.data.scaler), run.mesh, split_output=True
  )
  predictions, targets = [], []
  for batch in split.batches(run.eval_rows):
    padded = shard_batch(pad_batch(batch, run.eval_rows), run.mesh)
    output = predict_step(variables["params"], variables["fixed"], padded)
    predictions.append(np.asarray(output)[: len(batch["y"])])
    targets.append(batch["y"])
  expected = staeformer_metrics(np.concatenate(predictions), np.concatenate(targets))
  np.testing.assert_allclose([result["mae"], result["rmse"], result["mape"]], expected, rtol=1e-5)


def test_per_node_scaling_puts_the_loss_on_z_scores(run):
  """Rescaling one node (its targets, mean and std) leaves a per-node loss unchanged."""
  from entropy_attention_jax.data import StandardScaler  # pylint: disable=g-import-not-at-top

  nodes = run.data.num_nodes
  mean = np.linspace(10, 60, nodes, dtype=np.float32)[:, None]
  std = np.linspace(2, 7, nodes, dtype=np.float32)[:, None]
  factor = np.ones((nodes, 1), np.float32)
  factor[2] = 1000.0  # One series in other units.
  batch = next(run.data.train.batches(8, drop_remainder=True))
  batch = pad_batch(batch, run.train_rows)

  def loss(scaler, y):
    step = jax.jit(make_train_step(run.model_def, run.optimizer, scaler, loss="mae"))
    _, measurements = step(_copy(run.initial_state), {**batch, "y": y})
    return float(measurements["loss"])

  per_node = loss(StandardScaler(mean, std), batch["y"])
  rescaled = loss(StandardScaler(mean * factor, std * factor), batch["y"] * factor[:, 0, None])
  assert per_node == pytest.approx(rescaled, rel=1e-4)
  # A global scaler compares original units: the rescaled node dominates.
  plain = loss(StandardScaler(mean[2], std[2]), batch["y"])
  scaled = loss(StandardScaler(mean[2], std[2]), batch["y"] * factor[:, 0, None])
  assert scaled > 100 * plain
