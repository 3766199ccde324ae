"""Configs: presets, typed overrides, resolution against the data, JSON round trip."""

from __future__ import annotations

import dataclasses

import pytest

from entropy_attention_jax.data import dataset_names
from entropy_attention_jax.models import ELinFormerConfig
from entropy_attention_jax.training import (
    ConfigError,
    ExperimentConfig,
    get_config,
    with_overrides,
)
from entropy_attention_jax.training.config import DATA_DERIVED_MODEL_FIELDS, differences, resolve

from tests.training.conftest import tiny_config


def test_staeformer_presets_carry_the_published_settings():
  pems08 = get_config("pems08")
  assert pems08.optim.weight_decay == 1.5e-3 and pems08.optim.milestones == (25, 45, 65)
  assert pems08.optim.learning_rate == 1e-3 and pems08.optim.decay_rate == 0.1
  assert pems08.train.batch_size == 16 and pems08.train.patience == 30
  assert pems08.train.loss == "huber" and not pems08.train.mask_zeros
  assert pems08.model == {"input_dim": 3}
  metr_la = get_config("metr_la")
  assert metr_la.train.loss == "mae" and metr_la.train.mask_zeros
  assert metr_la.optim.weight_decay == 3e-4 and metr_la.data.dataset == "metr_la"
  names = ("pems04", "pems07", "pems_bay")
  weight_decays = {name: get_config(name).optim.weight_decay for name in names}
  assert weight_decays == {"pems04": 5e-4, "pems07": 1e-3, "pems_bay": 1e-4}


@pytest.mark.parametrize("name", dataset_names())
def test_every_dataset_has_a_config(name):
  assert get_config(name).data.dataset == name


def test_overrides_are_parsed_for_the_field_type():
  config = get_config(
      "synthetic_traffic",
      overrides=[
          "train.epochs=7", "optim.learning_rate=3e-4", "train.mask_zeros=false",
          "optim.milestones=10,20", "data.split_ratios=[0.7, 0.1, 0.2]",
          "train.eval_batch_size=none", "data.builder_options.nodes=30",
          "model.attention_options.estimator=gaussian_ensemble", "model.dtype=bfloat16",
          "model.num_heads=2",
      ],
  )
  assert config.train.epochs == 7 and config.optim.learning_rate == 3e-4
  assert config.train.mask_zeros is False and config.train.eval_batch_size is None
  assert config.optim.milestones == (10, 20) and config.data.split_ratios == (0.7, 0.1, 0.2)
  assert config.data.builder_options == {"nodes": 30, "days": 14, "seed": 0}
  assert config.model == {
      "attention_options": {"estimator": "gaussian_ensemble"}, "dtype": "bfloat16", "num_heads": 2,
  }
  assert with_overrides(config, {"optim.milestones": [5]}).optim.milestones == (5,)
  with pytest.raises(ConfigError, match="model.temporal_attention must be a string, got 5"):
    with_overrides(config, {"model.temporal_attention": 5})


def test_overlays_then_overrides():
  config = get_config("pems04", overlays=["small"], overrides=["model.num_spatial_layers=1"])
  assert config.model["input_embedding_dim"] == 16 and config.model["num_spatial_layers"] == 1
  assert config.model["input_dim"] == 3  # from the preset
  assert config.optim.weight_decay == 5e-4


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=abc", "train.epochs must be an integer, got 'abc'"),
        ("train.epochs=2.5", "train.epochs must be an integer"),
        ("optim.learning_rate=fast", "optim.learning_rate must be a number"),
        ("train.mask_zeros=maybe", "train.mask_zeros must be true or false"),
        ("train.epochs", "an override must be key=value"),
        ("trainer.epochs=3", "with a section in ['data', 'model', 'optim', 'train']"),
        ("train.epoch=3", "unknown key train.epoch; train has"),
        ("model.num_layers=3", "unknown model key 'num_layers'"),
        ("model.num_nodes=5", "model.num_nodes is set from the data"),
        ("train.loss=mse", "train.loss must be one of ['huber', 'mae'], got 'mse'"),
        ("optim.milestones=20,10", "optim.milestones must be increasing epochs"),
        ("train.epochs.x=1", "train.epochs is not a mapping"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
  with pytest.raises(ConfigError) as error:
    get_config("synthetic_traffic", overrides=[override])
  assert message in str(error.value)


def test_unknown_overlay():
  with pytest.raises(ConfigError, match="unknown preset 'huge'"):
    get_config("pems08", overlays=["huge"])


def test_json_round_trip():
  config = get_config("pems08", overlays=["tiny"], overrides=["data.split_ratios=0.6,0.2,0.2"])
  assert ExperimentConfig.from_dict(config.to_dict()) == config
  with pytest.raises(ConfigError, match=r"unknown keys \['optim.momentum'\]"):
    ExperimentConfig.from_dict({**config.to_dict(), "optim": {"momentum": 0.9}})
  with pytest.raises(ConfigError, match="unknown config sections"):
    ExperimentConfig.from_dict({"eval": {}})


def test_resolve_fills_the_model_from_the_data(data_dir, tiny_data):
  config = tiny_config(data_dir)
  resolved = resolve(config, tiny_data)
  model = ELinFormerConfig.from_dict(resolved.model)
  assert (model.num_nodes, model.in_steps, model.out_steps, model.steps_per_day) == (6, 12, 12, 288)
  assert (model.input_dim, model.time_of_day_channel, model.day_of_week_channel) == (1, 1, 2)
  assert model.num_temporal_layers == 1 and model.model_dim == 16  # the tiny overlay
  assert resolved.data.data_dir == str(data_dir)
  assert resolve(resolved, tiny_data) == resolved  # idempotent, as a stored config is re-read
  assert set(DATA_DERIVED_MODEL_FIELDS) <= set(resolved.model)


def test_resolve_rejects_a_model_the_data_or_the_model_cannot_take(data_dir, tiny_data):
  config = tiny_config(data_dir)
  wrong_nodes = dataclasses.replace(config, model={**config.model, "num_nodes": 7})
  message = r"model.num_nodes=7 does not match the data \(num_nodes=6\)"
  with pytest.raises(ConfigError, match=message):
    resolve(wrong_nodes, tiny_data)
  with pytest.raises(ConfigError, match="must be divisible by num_heads=3"):
    resolve(with_overrides(config, ["model.num_heads=3"]), tiny_data)


def test_differences_lists_changed_keys():
  a = get_config("pems08")
  b = get_config("pems08", overrides=["train.epochs=5", "model.num_heads=2"])
  assert differences(a, b) == [("model.num_heads", None, 2), ("train.epochs", 300, 5)]
