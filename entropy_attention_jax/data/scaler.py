"""Z-score scaling of input channels, fit on training inputs only.

One mean and one standard deviation per channel, shared by all nodes (as in
STAEformer). Channel 0 is the forecast target: models see its z-scores and
their predictions are mapped back with `inverse_transform` before the loss
and the metrics, on the original scale. The scaler serialises to a small JSON
dict so a training run can store it beside its checkpoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from entropy_attention_jax.data.errors import DataError

_FIT_BLOCK_STEPS = 256


@dataclasses.dataclass(frozen=True)
class StandardScaler:
  """Per-channel z-score: `(x - mean) / std`.

  Attributes:
    mean: `[channels]` float32; entry 0 belongs to the target signal.
    std: `[channels]` float32, all > 0.
    channel_names: optional names, for humans reading the JSON.
  """

  mean: np.ndarray
  std: np.ndarray
  channel_names: tuple[str, ...] = ()

  def __post_init__(self):
    mean = np.asarray(self.mean, np.float32).reshape(-1)
    std = np.asarray(self.std, np.float32).reshape(-1)
    if mean.shape != std.shape or mean.size == 0:
      raise DataError(
          f"StandardScaler: mean {mean.shape} and std {std.shape} must be equal and non-empty."
      )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
      raise DataError(f"StandardScaler: needs finite mean and std > 0, got mean={mean}, std={std}.")
    object.__setattr__(self, "mean", mean)
    object.__setattr__(self, "std", std)
    object.__setattr__(self, "channel_names", tuple(self.channel_names))

  @property
  def num_channels(self) -> int:
    return self.mean.shape[0]

  @classmethod
  def fit(
      cls,
      values: np.ndarray,
      *,
      ignore_zeros: bool = False,
      channel_names: Sequence[str] = (),
  ) -> StandardScaler:
    """Mean and (population) std of each channel over steps and nodes.

    Computed in float64 over blocks of steps, so fitting a 10,000-node series
    needs no copy of it.

    Args:
      values: `[steps, nodes, channels]` (the training inputs).
      ignore_zeros: leave out exact zeros (missing readings). The default,
        False, keeps them, as STAEformer does.
      channel_names: stored with the scaler.

    Raises:
      DataError: a channel with no (non-zero) value or a constant channel.
    """
    if values.ndim != 3:
      raise DataError(
          f"StandardScaler.fit: values must be [steps, nodes, channels], got {values.shape}."
      )
    channels = values.shape[-1]
    blocks = [values[i : i + _FIT_BLOCK_STEPS] for i in range(0, values.shape[0], _FIT_BLOCK_STEPS)]
    count = np.zeros(channels)
    total = np.zeros(channels)
    for block in blocks:
      keep = block != 0 if ignore_zeros else np.ones(block.shape, bool)
      count += keep.sum(axis=(0, 1))
      total += np.where(keep, block, 0).sum(axis=(0, 1), dtype=np.float64)
    if np.any(count == 0):
      raise DataError(
          f"StandardScaler.fit: channel(s) {np.flatnonzero(count == 0).tolist()} have no"
          f" {'non-zero ' if ignore_zeros else ''}training value to fit on."
      )
    mean = total / count
    squares = np.zeros(channels)
    for block in blocks:
      keep = block != 0 if ignore_zeros else np.ones(block.shape, bool)
      squares += np.where(keep, (block - mean) ** 2, 0).sum(axis=(0, 1))
    std = np.sqrt(squares / count)
    if np.any(std == 0):
      raise DataError(
          f"StandardScaler.fit: channel(s) {np.flatnonzero(std == 0).tolist()} are"
          " constant over the training inputs; they cannot be z-scored."
      )
    return cls(mean, std, tuple(channel_names))

  def _stats(self, values: Any) -> tuple[np.ndarray, np.ndarray]:
    channels = np.shape(values)[-1]
    if channels > self.num_channels:
      raise DataError(
          f"StandardScaler: values have {channels} channels (shape {np.shape(values)});"
          f" the scaler has {self.num_channels}."
      )
    return self.mean[:channels], self.std[:channels]

  def transform(self, values: Any) -> Any:
    """z-scores of `values` `[..., k]`, channel i scaled by stats i (k <= channels).

    Works on NumPy and JAX arrays (also inside `jit`).
    """
    mean, std = self._stats(values)
    return (values - mean) / std

  def inverse_transform(self, values: Any) -> Any:
    """Original scale of z-scores `[..., k]`; `[..., 1]` predictions use channel 0."""
    mean, std = self._stats(values)
    return values * std + mean

  def to_dict(self) -> dict[str, Any]:
    """JSON-serialisable form."""
    return {
        "mean": self.mean.tolist(),
        "std": self.std.tolist(),
        "channel_names": list(self.channel_names),
    }

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> StandardScaler:
    """Inverse of `to_dict`."""
    try:
      mean, std = np.asarray(data["mean"]), np.asarray(data["std"])
    except KeyError as e:
      raise DataError(f"StandardScaler.from_dict: missing key {e} in {dict(data)!r}.") from None
    return cls(mean, std, tuple(data.get("channel_names", ())))
