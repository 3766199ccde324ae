"""StandardScaler: fit statistics, inversion, JSON round trip, JAX arrays."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from entropy_attention_jax.data import DataError, StandardScaler


@pytest.fixture(scope="module")
def values() -> np.ndarray:
  rng = np.random.default_rng(0)
  values = rng.normal([50.0, 0.1, 60.0], [20.0, 0.05, 8.0], (700, 9, 3)).astype(np.float32)
  values[rng.random(values.shape) < 0.05] = 0.0
  return values


def test_fit_matches_numpy_over_steps_and_nodes(values):
  scaler = StandardScaler.fit(values)  # Blocks of 256 steps: 700 is not a multiple.
  flat = values.reshape(-1, 3).astype(np.float64)
  np.testing.assert_allclose(scaler.mean, flat.mean(0), rtol=1e-6)
  np.testing.assert_allclose(scaler.std, flat.std(0), rtol=1e-6)


def test_fit_can_ignore_missing_zeros(values):
  scaler = StandardScaler.fit(values, ignore_zeros=True)
  signal = values[..., 0].astype(np.float64)
  kept = signal[signal != 0]
  np.testing.assert_allclose(scaler.mean[0], kept.mean(), rtol=1e-6)
  np.testing.assert_allclose(scaler.std[0], kept.std(), rtol=1e-6)
  assert scaler.mean[0] > StandardScaler.fit(values).mean[0]


def test_transform_inverts_and_one_channel_uses_the_signal(values):
  scaler = StandardScaler.fit(values, channel_names=("flow", "occupancy", "speed"))
  z = scaler.transform(values)
  np.testing.assert_allclose(z.reshape(-1, 3).mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(scaler.inverse_transform(z), values, rtol=1e-5, atol=1e-4)
  prediction = z[..., :1]  # [..., 1]: the target's statistics.
  np.testing.assert_allclose(scaler.inverse_transform(prediction), values[..., :1], rtol=1e-5, atol=1e-4)


def test_json_round_trip(values):
  scaler = StandardScaler.fit(values, channel_names=("flow", "occupancy", "speed"))
  again = StandardScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
  np.testing.assert_array_equal(again.mean, scaler.mean)
  np.testing.assert_array_equal(again.std, scaler.std)
  assert again.channel_names == ("flow", "occupancy", "speed")


def test_works_on_jax_arrays_under_jit(values):
  scaler = StandardScaler.fit(values)
  prediction = jnp.asarray(values[None, :4, :, :1] / 7.0)  # [batch, steps, nodes, 1]
  out = jax.jit(scaler.inverse_transform)(prediction)
  assert out.dtype == jnp.float32
  np.testing.assert_allclose(out, scaler.inverse_transform(np.asarray(prediction)), rtol=1e-6)


def test_errors(values):
  with pytest.raises(DataError, match=r"channel\(s\) \[1\] are constant"):
    StandardScaler.fit(np.stack([values[..., 0], np.ones_like(values[..., 0])], -1))
  with pytest.raises(DataError, match=r"channel\(s\) \[0\] have no non-zero"):
    StandardScaler.fit(np.zeros((5, 2, 1)), ignore_zeros=True)
  with pytest.raises(DataError, match="4 channels"):
    StandardScaler.fit(values).transform(np.ones((2, 4)))
  with pytest.raises(DataError, match="std > 0"):
    StandardScaler([0.0], [0.0])
  with pytest.raises(DataError, match="missing key 'std'"):
    StandardScaler.from_dict({"mean": [1.0]})
