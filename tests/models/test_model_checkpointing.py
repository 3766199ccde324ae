"""Orbax save/restore of model state."""

from __future__ import annotations

import chex
import jax
import numpy as np
import pytest
from flax import nnx

from entropy_attention_jax import ELinFormer, ELinFormerConfig
from entropy_attention_jax.models import restore_model, save_model
from entropy_attention_jax.nn import EntropyLinearAttention

CONFIG = ELinFormerConfig(
    num_nodes=5, in_steps=4, out_steps=3, steps_per_day=24, input_embedding_dim=4,
    tod_embedding_dim=4, dow_embedding_dim=4, adaptive_embedding_dim=4,
    feed_forward_dim=8, num_heads=2, num_temporal_layers=1, num_spatial_layers=1,
    dropout_rate=0.0,
)


def make_layer(seed: int) -> EntropyLinearAttention:
  # Sizes as in tests/nn, so the eager ops compiled there are reused; an "rbg"
  # dropout key compiles faster than threefry (ELinFormer's round trip below
  # keeps threefry keys).
  rngs = nnx.Rngs(params=seed, dropout=jax.random.key(seed, impl="rbg"))
  return EntropyLinearAttention(
      2, 16, attention="performer", attention_options={"num_features": 12},
      dropout_rate=0.5, rngs=rngs,
  )


def test_elinformer_round_trip_from_its_config(tmp_path):
  model = ELinFormer(CONFIG, rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(1), (2, 4, 5, 3))
  save_model(tmp_path / "model", model)
  restored = restore_model(tmp_path / "model")
  assert isinstance(restored, ELinFormer)
  assert restored.config == CONFIG
  chex.assert_trees_all_equal(nnx.state(restored), nnx.state(model))
  predict = nnx.jit(lambda m, x: m(x, deterministic=True))
  np.testing.assert_array_equal(predict(restored, x), predict(model, x))


def test_restore_into_a_template_keeps_fixed_variables_and_rng_state(tmp_path):
  layer = make_layer(seed=0)
  x = jax.random.normal(jax.random.key(1), (2, 3, 7, 16))
  layer(x)  # advances the dropout stream
  save_model(tmp_path / "layer", layer)
  template = nnx.eval_shape(lambda: make_layer(seed=1))
  restored = restore_model(tmp_path / "layer", template)
  np.testing.assert_array_equal(
      restored.performer_features[...], layer.performer_features[...]
  )
  # Training resumes exactly: the next dropout mask is the same.
  np.testing.assert_array_equal(restored(x), layer(x))


def test_an_existing_save_is_replaced_only_when_asked(tmp_path):
  layer = make_layer(seed=0)
  save_model(tmp_path / "layer", layer)
  with pytest.raises(FileExistsError, match="overwrite=True"):
    save_model(tmp_path / "layer", make_layer(seed=1))
  save_model(tmp_path / "layer", make_layer(seed=1), overwrite=True)
  restored = restore_model(tmp_path / "layer", make_layer(seed=0))
  np.testing.assert_array_equal(
      restored.query.kernel[...], make_layer(seed=1).query.kernel[...]
  )


def test_restore_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="no saved state"):
    restore_model(tmp_path / "missing")
  save_model(tmp_path / "layer", make_layer(seed=0))
  with pytest.raises(FileNotFoundError, match="config.json"):
    restore_model(tmp_path / "layer")  # not an ELinFormer: a template is needed
  wider = nnx.eval_shape(
      lambda: EntropyLinearAttention(2, 32, attention="performer", rngs=nnx.Rngs(0))
  )
  with pytest.raises(ValueError, match="does not match"):
    restore_model(tmp_path / "layer", wider)
