"""Tests of the ELinFormer forecaster and its configuration."""

from __future__ import annotations

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from entropy_attention_jax import ELinFormer, ELinFormerConfig
from entropy_attention_jax.models import parameter_count
from entropy_attention_jax.nn import capture_attention_diagnostics

# model_dim = 4 + 4 + 4 + 4 = 16, head_dim 8. No dropout except where tested:
# random masks make every compile several times slower on CPU.
TINY = dict(
    num_nodes=5, in_steps=4, out_steps=3, steps_per_day=24, input_embedding_dim=4,
    tod_embedding_dim=4, dow_embedding_dim=4, adaptive_embedding_dim=4,
    feed_forward_dim=8, num_heads=2, num_temporal_layers=1, num_spatial_layers=1,
    dropout_rate=0.0,
)


# Eager calls compile every op anew for each shape; one jit compile is cheaper.
predict = nnx.jit(lambda model, x: model(x, deterministic=True))
apply = nnx.jit(lambda model, x: model(x))  # in the model's current train/eval mode


def tiny_config(**overrides) -> ELinFormerConfig:
  return ELinFormerConfig(**{**TINY, **overrides})


def make_inputs(config: ELinFormerConfig, batch: int = 2, seed: int = 0):
  """Signal ~ N(0, 1), time-of-day fraction and day-of-week index channels."""
  signal_key, slot_key, day_key = jax.random.split(jax.random.key(seed), 3)
  shape = (batch, config.in_steps, config.num_nodes)
  slots = jax.random.randint(slot_key, shape, 0, config.steps_per_day)
  days = jax.random.randint(day_key, shape, 0, 7)
  return jnp.stack([
      jax.random.normal(signal_key, shape),
      slots / config.steps_per_day,
      days.astype(jnp.float32),
  ], axis=-1)


@pytest.fixture(scope="module")
def tiny_model():
  model = ELinFormer(tiny_config(), rngs=nnx.Rngs(0))
  model.eval()
  return model


def test_bfloat16_computation_from_the_config():
  config = tiny_config(dtype="bfloat16")
  model = nnx.eval_shape(lambda: ELinFormer(config, rngs=nnx.Rngs(0)))
  x = jax.ShapeDtypeStruct((2, 4, 5, 3), jnp.float32)
  assert nnx.eval_shape(lambda m, x: m(x, deterministic=True), model, x).dtype == jnp.bfloat16
  assert model.output_projection.kernel.dtype == jnp.float32  # parameters stay float32


def test_interface_at_the_pems08_configuration():
  config = ELinFormerConfig(
      num_nodes=170, in_steps=12, out_steps=12,
      temporal_attention="eala", spatial_attention="eala",
  )
  # Shapes only (nothing allocated or compiled); the tiny models below run.
  model = nnx.eval_shape(lambda: ELinFormer(config, rngs=nnx.Rngs(0)))
  x = jax.ShapeDtypeStruct((2, 12, 170, 3), jnp.float32)
  outputs = nnx.eval_shape(lambda m, x: m(x, deterministic=True), model, x)
  assert outputs.shape == (2, 12, 170, 1)
  assert config.model_dim == 152


def test_output_shapes_of_another_configuration():
  # Daily data, two signal channels, node embedding instead of the adaptive one,
  # calendar channels after the signals, per-step output projection.
  config = tiny_config(
      steps_per_day=1, input_dim=2, output_dim=2, spatial_embedding_dim=4,
      adaptive_embedding_dim=0, time_of_day_channel=2, day_of_week_channel=3,
      use_mixed_proj=False, out_steps=6,
  )
  model = ELinFormer(config, rngs=nnx.Rngs(0))
  signal, time_of_day, day_of_week = jnp.moveaxis(make_inputs(config), -1, 0)
  x = jnp.stack([signal, -signal, time_of_day, day_of_week], axis=-1)
  outputs = predict(model, x)
  chex.assert_shape(outputs, (2, 6, 5, 2))
  chex.assert_tree_all_finite(outputs)


@pytest.mark.parametrize(
    "temporal, spatial",
    # With the fixture's ("eala", "eala"), every kind runs on both axes.
    [("softmax", "linear"), ("linear", "performer"), ("performer", "taylor"),
     ("taylor", "softmax")],
)
def test_every_attention_kind_swaps_in(temporal, spatial, tiny_model):
  config = tiny_config(temporal_attention=temporal, spatial_attention=spatial)
  model = ELinFormer(config, rngs=nnx.Rngs(0))
  outputs, reference = predict(model, make_inputs(config)), predict(tiny_model, make_inputs(config))
  chex.assert_shape(outputs, reference.shape)
  chex.assert_tree_all_finite(outputs)
  assert parameter_count(model) == parameter_count(tiny_model)
  assert model.spatial_layers[0].attention.attention == spatial


def test_jit_and_grad(tiny_model):
  config = tiny_model.config
  x, targets = make_inputs(config), jax.random.normal(jax.random.key(5), (2, 3, 5, 1))

  @nnx.jit
  def loss_and_grad(model, x, targets):
    loss_fn = lambda m: jnp.mean(optax.huber_loss(m(x, deterministic=False), targets))
    return nnx.value_and_grad(loss_fn)(model)

  train_model = nnx.clone(tiny_model)
  train_model.train()
  loss, grads = loss_and_grad(train_model, x, targets)
  chex.assert_tree_all_finite((loss, grads))
  for name in ("input_projection", "time_of_day_embedding", "day_of_week_embedding",
               "adaptive_embedding", "temporal_layers", "spatial_layers", "output_projection"):
    norm = sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(grads[name]))
    assert norm > 0, name


def test_fixed_seed_gives_identical_models(tiny_model):
  x = make_inputs(tiny_model.config)
  same = ELinFormer(tiny_model.config, rngs=nnx.Rngs(0))
  other = ELinFormer(tiny_model.config, rngs=nnx.Rngs(1))
  np.testing.assert_array_equal(predict(same, x), predict(tiny_model, x))
  assert not np.allclose(predict(other, x), predict(tiny_model, x))


def test_dropout_only_in_training_mode():
  config = tiny_config(dropout_rate=0.3)
  # An "rbg" dropout key compiles several times faster on CPU than threefry.
  rngs = nnx.Rngs(params=0, dropout=jax.random.key(0, impl="rbg"))
  model = ELinFormer(config, rngs=rngs)  # modules start in training mode
  x = make_inputs(config)
  assert not np.allclose(apply(model, x), apply(model, x))  # new masks each call
  evaluated = predict(model, x)
  model.eval()
  np.testing.assert_array_equal(apply(model, x), evaluated)
  np.testing.assert_array_equal(apply(model, x), apply(model, x))
  model.train()
  assert not np.allclose(apply(model, x), evaluated)


def test_calendar_channels_are_read_only_when_enabled(tiny_model):
  x = make_inputs(tiny_model.config)
  shifted = x.at[..., 1].set(jnp.mod(x[..., 1] + 0.25, 1.0)).at[..., 2].add(1.0)
  assert not np.allclose(predict(tiny_model, shifted), predict(tiny_model, x))
  config = tiny_config(tod_embedding_dim=0, dow_embedding_dim=0, adaptive_embedding_dim=12)
  no_calendar = ELinFormer(config, rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(predict(no_calendar, shifted), predict(no_calendar, x))


@pytest.mark.parametrize(
    "shape, error, message",
    [
        ((2, 4, 5), ValueError, r"inputs must be \[batch, in_steps=4, nodes=5, channels>=3\]"),
        ((2, 6, 5, 3), ValueError, "got shape"),
        ((2, 4, 7, 3), ValueError, "axis 2 nodes"),
        ((2, 4, 5, 2), ValueError, "channels>=3"),
    ],
)
def test_bad_inputs_raise(shape, error, message, tiny_model):
  with pytest.raises(error, match=message):
    tiny_model(jnp.zeros(shape))


def test_integer_inputs_raise(tiny_model):
  with pytest.raises(TypeError, match="floating point"):
    tiny_model(jnp.zeros((2, 4, 5, 3), jnp.int32))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(num_heads=3), "must be divisible by num_heads=3"),
        (dict(spatial_attention="flash"), "unknown spatial_attention='flash'"),
        (dict(num_nodes=0), "num_nodes must be >= 1"),
        (dict(adaptive_embedding_dim=-1), "adaptive_embedding_dim must be >= 0"),
        (dict(dropout_rate=1.0), "dropout_rate"),
    ],
)
def test_bad_config_raises(overrides, message):
  with pytest.raises(ValueError, match=message):
    tiny_config(**overrides)


def test_attention_options_shared_and_per_axis():
  config = tiny_config(
      attention_options={"estimator": "cumulant3"},
      spatial_attention_options={"nonneg": True},
  )
  model = ELinFormer(config, rngs=nnx.Rngs(0))
  assert dict(model.temporal_layers[0].attention.attention_options) == {"estimator": "cumulant3"}
  assert dict(model.spatial_layers[0].attention.attention_options) == {
      "estimator": "cumulant3", "nonneg": True,
  }
  with pytest.raises(ValueError, match=r"\['estimator'\] do not apply to attention='softmax'"):
    config = tiny_config(temporal_attention="softmax", attention_options={"estimator": "cumulant3"})
    ELinFormer(config, rngs=nnx.Rngs(0))


def test_config_round_trips_through_json():
  config = tiny_config(spatial_attention_options={"nonneg": True, "theta_scale": 0.5})
  restored = ELinFormerConfig.from_dict(json.loads(json.dumps(config.to_dict())))
  assert restored == config
  assert hash(restored) == hash(config)
  with pytest.raises(ValueError, match=r"unknown fields \['heads'\]"):
    ELinFormerConfig.from_dict({"num_nodes": 3, "heads": 2})


def test_diagnostics_name_every_layer(tiny_model):
  x = make_inputs(tiny_model.config)
  outputs, diagnostics = nnx.jit(capture_attention_diagnostics)(tiny_model, x)
  np.testing.assert_array_equal(outputs, predict(tiny_model, x))
  assert set(diagnostics) == {"temporal_layers/0/attention", "spatial_layers/0/attention"}
  # Temporal attention runs per node along time; spatial per step across nodes.
  chex.assert_shape(diagnostics["temporal_layers/0/attention"]["theta"], (2, 5, 4, 2))
  chex.assert_shape(diagnostics["spatial_layers/0/attention"]["theta"], (2, 4, 5, 2))
  chex.assert_shape(diagnostics["spatial_layers/0/attention"]["attention_weights"], (2, 4, 2, 5, 5))


forecast_with_future = nnx.jit(lambda model, x, future: model(x, future, deterministic=True))


def test_known_future_covariates_enter_through_a_linear_map():
  config = tiny_config(future_dim=2)
  model = ELinFormer(config, rngs=nnx.Rngs(0))
  x = make_inputs(config)
  keys = jax.random.split(jax.random.key(1), 2)
  f1, f2 = (jax.random.normal(k, (2, config.out_steps, config.num_nodes, 2)) for k in keys)
  out = forecast_with_future(model, x, f1)
  assert out.shape == (2, config.out_steps, config.num_nodes, 1)
  assert not np.allclose(out, forecast_with_future(model, x, f2))
  # Affine in `future`: out(f1) + out(f2) = out(f1 + f2) + out(0).
  zero = forecast_with_future(model, x, jnp.zeros_like(f1))
  np.testing.assert_allclose(
      out + forecast_with_future(model, x, f2), forecast_with_future(model, x, f1 + f2) + zero,
      rtol=1e-4, atol=1e-4,
  )
  with pytest.raises(ValueError, match=r"future must be \[batch, out_steps=3, nodes=5, future_dim=2\]"):
    model(x, deterministic=True)
  with pytest.raises(ValueError, match="got \\(2, 3, 5, 1\\)"):
    model(x, f1[..., :1], deterministic=True)


def test_future_is_refused_without_future_dim(tiny_model):
  x = make_inputs(tiny_model.config)
  with pytest.raises(ValueError, match="future_dim=0\\] or None"):
    tiny_model(x, jnp.zeros((2, 3, 5, 1)), deterministic=True)


def test_last_value_window_normalization_follows_the_level():
  config = tiny_config(window_normalization="last_value")
  model = ELinFormer(config, rngs=nnx.Rngs(0))
  x = make_inputs(config)
  shifted = x.at[..., 0].add(100.0)  # A level far outside the "training" range.
  np.testing.assert_allclose(predict(model, shifted), predict(model, x) + 100.0, atol=1e-3)
  plain = ELinFormer(tiny_config(), rngs=nnx.Rngs(0))
  assert not np.allclose(predict(plain, shifted), predict(plain, x) + 100.0, atol=1e-1)
  with pytest.raises(ValueError, match="window_normalization must be one of"):
    tiny_config(window_normalization="revin")


def test_window_scale_normalization_follows_level_and_scale():
  model = ELinFormer(tiny_config(window_normalization="window_scale"), rngs=nnx.Rngs(0))
  x = make_inputs(model.config)
  shifted = x.at[..., 0].add(100.0)
  np.testing.assert_allclose(predict(model, shifted), predict(model, x) + 100.0, atol=1e-3)
  # Far above the variance floor, scaling the target's window scales the forecast.
  by_100, by_1000 = (predict(model, x.at[..., 0].multiply(k)) / k for k in (100.0, 1000.0))
  np.testing.assert_allclose(by_100, by_1000, rtol=1e-3, atol=1e-4)


def test_month_of_year_embedding_reads_its_channel():
  config = tiny_config(
      tod_embedding_dim=0, dow_embedding_dim=0, moy_embedding_dim=8, month_of_year_channel=1,
  )
  assert config.num_channels == 2 and config.model_dim == 16
  model = ELinFormer(config, rngs=nnx.Rngs(0))
  months = jnp.broadcast_to(jnp.arange(config.in_steps, dtype=jnp.float32)[None, :, None], (2, 4, 5))
  x = jnp.stack([make_inputs(config)[..., 0], months], axis=-1)
  later = x.at[..., 1].set(jnp.mod(x[..., 1] + 6, 12))
  assert not np.allclose(predict(model, later), predict(model, x))
  np.testing.assert_allclose(  # Periodic: month 12 is month 0.
      predict(model, x.at[..., 1].add(12.0)), predict(model, x), rtol=1e-4, atol=1e-4
  )
