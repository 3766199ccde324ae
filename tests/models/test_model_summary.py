"""Parameter counts and `describe`."""

from __future__ import annotations

import pytest
from flax import nnx

from entropy_attention_jax import ATTENTION_FUNCTIONS, ELinFormer, ELinFormerConfig
from entropy_attention_jax.models import describe, parameter_count, parameter_counts


def abstract_model(**fields) -> ELinFormer:
  return nnx.eval_shape(lambda: ELinFormer(ELinFormerConfig(**fields), rngs=nnx.Rngs(0)))


def staeformer_parameter_count(num_nodes, input_dim=1, in_steps=12, out_steps=12,
                               steps_per_day=288, model_dim=152, ff=256, layers=3):
  """STAEformer's count, written out from its released architecture."""
  linear = lambda fan_in, fan_out: fan_in * fan_out + fan_out
  attention = 4 * linear(model_dim, model_dim)  # Q, K, V, output projections
  block = attention + linear(model_dim, ff) + linear(ff, model_dim) + 2 * 2 * model_dim
  return (
      linear(input_dim, 24) + steps_per_day * 24 + 7 * 24 + in_steps * num_nodes * 80
      + 2 * layers * block + linear(in_steps * model_dim, out_steps)
  )


@pytest.mark.parametrize("input_dim", [1, 3])
def test_pems08_count_matches_staeformer_for_every_kind(input_dim):
  expected = staeformer_parameter_count(170, input_dim=input_dim)
  assert expected == {1: 1_223_412, 3: 1_223_460}[input_dim]
  for kind in ATTENTION_FUNCTIONS:  # EALA (or any kind) adds no parameters
    model = abstract_model(
        num_nodes=170, input_dim=input_dim, temporal_attention=kind, spatial_attention=kind
    )
    assert parameter_count(model) == expected, kind


def test_describe_lists_total_and_submodules():
  model = abstract_model(num_nodes=170)
  counts = parameter_counts(model)
  assert list(counts) == [
      "adaptive_embedding", "day_of_week_embedding", "input_projection",
      "output_projection", "spatial_layers", "temporal_layers", "time_of_day_embedding",
  ]
  assert sum(counts.values()) == parameter_count(model)
  assert counts["adaptive_embedding"] == 12 * 170 * 80
  text = describe(model)
  assert text.splitlines()[0] == "ELinFormer: 1,223,412 parameters"
  assert "  spatial_layers" in text and "515,592" in text
  assert "fixed" not in text


def test_describe_lists_fixed_performer_features_apart():
  model = abstract_model(num_nodes=10, spatial_attention="performer",
                         spatial_attention_options={"num_features": 16})
  # 3 spatial layers x [16 features, head_dim 38].
  assert "fixed (untrained) values: 1,824" in describe(model)
