"""Z-score scaling of input channels, fit on training inputs only.

Two layouts (`data.scaling`):

- ``"global"``: one mean and one standard deviation per channel, shared by
  all nodes (STAEformer's convention, the default of the traffic benchmarks);
- ``"per_node"``: one mean and standard deviation per node and channel, so a
  table mixing hPa, % and GW puts every series on the same footing (the
  default of wide tables and Chicago ridership).

Channel 0 is the forecast target: models see its z-scores and their
predictions are mapped back with `inverse_transform`. Missing values (NaN)
are left out of the fit. The scaler serialises to a small JSON dict so a
training run can store it beside its checkpoints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from entropy_attention_jax.data.errors import DataError

_FIT_BLOCK_STEPS = 256
SCALINGS: tuple[str, ...] = ("global", "per_node")


@dataclasses.dataclass(frozen=True)
class StandardScaler:
  """Z-score per channel or per node and channel: `(x - mean) / std`.

  Attributes:
    mean: `[channels]` (global) or `[nodes, channels]` (per node) float32;
      channel 0 belongs to the target signal.
    std: same shape as `mean`, all > 0.
    channel_names: optional names, for humans reading the JSON.
    node_ids: per-node scalers: the node of each row, for humans.
  """

  mean: np.ndarray
  std: np.ndarray
  channel_names: tuple[str, ...] = ()
  node_ids: tuple[str, ...] = ()

  def __post_init__(self):
    mean = np.asarray(self.mean, np.float32)
    std = np.asarray(self.std, np.float32)
    if mean.ndim == 0 or mean.ndim > 2:
      mean, std = mean.reshape(-1), std.reshape(-1)
    if mean.shape != std.shape or mean.size == 0:
      raise DataError(
          f"StandardScaler: mean {mean.shape} and std {std.shape} must be equal and non-empty."
      )
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
      raise DataError(f"StandardScaler: needs finite mean and std > 0, got mean={mean}, std={std}.")
    object.__setattr__(self, "mean", mean)
    object.__setattr__(self, "std", std)
    object.__setattr__(self, "channel_names", tuple(self.channel_names))
    object.__setattr__(self, "node_ids", tuple(self.node_ids))

  @property
  def num_channels(self) -> int:
    return self.mean.shape[-1]

  @property
  def per_node(self) -> bool:
    """One mean and std per node (`mean` is `[nodes, channels]`)."""
    return self.mean.ndim == 2

  @property
  def scaling(self) -> str:
    return "per_node" if self.per_node else "global"

  @classmethod
  def fit(
      cls,
      values: np.ndarray,
      *,
      ignore_zeros: bool = False,
      per_node: bool = False,
      channel_names: Sequence[str] = (),
      node_ids: Sequence[str] = (),
  ) -> StandardScaler:
    """Mean and (population) std of each channel (and node), NaN left out.

    Computed in float64 over blocks of steps, so fitting a 10,000-node series
    needs no copy of it.

    Args:
      values: `[steps, nodes, channels]` (the training inputs).
      ignore_zeros: also leave out exact zeros (missing readings). The
        default, False, keeps them, as STAEformer does.
      per_node: one mean/std per node and channel. A node with no value or a
        constant one gets std 1 (and its value, or 0, as mean): it carries no
        scale to learn from.
      channel_names: stored with the scaler.
      node_ids: stored with a per-node scaler.

    Raises:
      DataError: (global) a channel with no value or a constant channel.
    """
    if values.ndim != 3:
      raise DataError(
          f"StandardScaler.fit: values must be [steps, nodes, channels], got {values.shape}."
      )
    axes = 0 if per_node else (0, 1)
    shape = values.shape[1:] if per_node else values.shape[2:]
    blocks = [values[i : i + _FIT_BLOCK_STEPS] for i in range(0, values.shape[0], _FIT_BLOCK_STEPS)]

    def keep(block: np.ndarray) -> np.ndarray:
      mask = ~np.isnan(block)
      return mask & (block != 0) if ignore_zeros else mask

    count, total = np.zeros(shape), np.zeros(shape)
    for block in blocks:
      kept = keep(block)
      count += kept.sum(axis=axes)
      total += np.where(kept, block, 0).sum(axis=axes, dtype=np.float64)
    if not per_node and np.any(count == 0):
      raise DataError(
          f"StandardScaler.fit: channel(s) {np.flatnonzero(count == 0).tolist()} have no"
          f" {'non-zero ' if ignore_zeros else ''}training value to fit on."
      )
    mean = total / np.maximum(count, 1)
    squares = np.zeros(shape)
    for block in blocks:
      kept = keep(block)
      squares += np.where(kept, (block - mean) ** 2, 0).sum(axis=axes)
    std = np.sqrt(squares / np.maximum(count, 1))
    if per_node:
      std = np.where(std > 0, std, 1.0)
    elif np.any(std == 0):
      raise DataError(
          f"StandardScaler.fit: channel(s) {np.flatnonzero(std == 0).tolist()} are"
          " constant over the training inputs; they cannot be z-scored."
      )
    return cls(mean, std, tuple(channel_names), tuple(node_ids) if per_node else ())

  def _stats(self, values: Any) -> tuple[np.ndarray, np.ndarray]:
    channels = np.shape(values)[-1]
    if channels > self.num_channels:
      raise DataError(
          f"StandardScaler: values have {channels} channels (shape {np.shape(values)});"
          f" the scaler has {self.num_channels}."
      )
    if self.per_node and (np.ndim(values) < 2 or np.shape(values)[-2] != self.mean.shape[0]):
      raise DataError(
          f"StandardScaler: values {np.shape(values)} must be [..., nodes={self.mean.shape[0]},"
          " channels] for a per-node scaler."
      )
    return self.mean[..., :channels], self.std[..., :channels]

  def transform(self, values: Any) -> Any:
    """z-scores of `values` `[..., k]` (`[..., nodes, k]` per node), channel i by stats i.

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
        "scaling": self.scaling,
        "mean": self.mean.tolist(),
        "std": self.std.tolist(),
        "channel_names": list(self.channel_names),
        "node_ids": list(self.node_ids),
    }

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> StandardScaler:
    """Inverse of `to_dict`."""
    try:
      mean, std = np.asarray(data["mean"]), np.asarray(data["std"])
    except KeyError as e:
      raise DataError(f"StandardScaler.from_dict: missing key {e} in {dict(data)!r}.") from None
    return cls(mean, std, tuple(data.get("channel_names", ())), tuple(data.get("node_ids", ())))
