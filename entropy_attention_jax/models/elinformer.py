"""ELinFormer: an STAEformer-style spatio-temporal forecaster with selectable attention.

Architecture (Liu et al., CIKM 2023, with the attention kind chosen per axis):

.. code-block:: text

  x [batch, in_steps, nodes, channels]
    -> input projection (24) ⊕ time-of-day (24) ⊕ day-of-week (24) ⊕ month-of-year (0)
       ⊕ node (0) ⊕ spatio-temporal adaptive [in_steps, nodes, 80]  = model_dim 152
    -> 3 temporal blocks (attention along in_steps, per node)
    -> 3 spatial blocks (attention across nodes, per step)
    -> mixed output projection in_steps * model_dim -> out_steps * output_dim
       (+ a linear map of the known-future covariates over the horizon, if any)
    -> [batch, out_steps, nodes, output_dim]

Known-future covariates (a working-day flag, holidays) enter twice: their
history as input channels like any covariate, and their values over the
forecast horizon through `future_projection`, a linear map per node from
`[out_steps * future_dim]` straight to the `[out_steps * output_dim]` output.
A linear path keeps their effect direct (a holiday lowers that day's
forecast), and without covariates the model is exactly STAEformer's.

`window_normalization="last_value"` makes the forecast relative to the last
input step: the target channel's last value is subtracted from the input
window and added back to every output step (as NLinear/RevIN do), so a level
outside the training range (a trend) needs no extrapolation.
``"window_scale"`` also divides by the window's own standard deviation (floored
at 0.1 of the series' scale) and multiplies it back, so patterns are learnt
relative to the recent volatility (RevIN with the last value as its centre).

With ``spatial_attention="eala"`` the spatial blocks cost `O(nodes)` time and
memory instead of softmax's `O(nodes²)`.

References:
  Liu, Dong, Jiang, Deng, Deng, Chen, Song. Spatio-Temporal Adaptive Embedding
  Makes Vanilla Transformer SOTA for Traffic Forecasting. CIKM 2023,
  arXiv:2308.10425 (code: github.com/XDZhelheim/STAEformer).
  Zhang, Yang, Zhu, Wang, Bai. Efficient Linear Attention for Multivariate
  Time Series Modeling via Entropy Equality. arXiv:2511.03190, 2025.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax.numpy as jnp
from flax import nnx
from flax.core import FrozenDict

from entropy_attention_jax.attention.kinds import get_kind
from entropy_attention_jax.nn import AdaptiveEmbedding, PeriodicEmbedding, TransformerBlock
from entropy_attention_jax.typing import Array

DAYS_PER_WEEK = 7
MONTHS_PER_YEAR = 12
WINDOW_NORMALIZATIONS: tuple[str, ...] = ("none", "last_value", "window_scale")
# Floor of the window scale (in the target's z-units): a flat window is not blown up.
_MIN_WINDOW_VARIANCE = 1e-2
_OPTION_FIELDS = ("attention_options", "temporal_attention_options", "spatial_attention_options")


@dataclasses.dataclass(frozen=True)
class ELinFormerConfig:
  """Sizes and switches of :class:`ELinFormer`; defaults are STAEformer's.

  Embeddings are switched off by setting their size to 0 (STAEformer's
  convention). Attention options: `attention_options` applies to both axes and
  `temporal_attention_options` / `spatial_attention_options` add to or
  override it per axis; each must be valid for its axis' kind (e.g.
  ``{"estimator": "gaussian_ensemble", "nonneg": True}`` for ``"eala"``).

  Attributes:
    num_nodes: number of nodes (sensors); the adaptive embedding is per node.
    in_steps: input window length.
    out_steps: forecast horizon.
    steps_per_day: time-of-day slots (288 for 5-minute data, 24 hourly, 1 for
      daily data — with 1 the time-of-day embedding is a constant).
    input_dim: signal channels fed to the input projection, `x[..., :input_dim]`.
      1 by default; STAEformer's released configs use 3, projecting the raw
      time-of-day and day-of-week channels too.
    output_dim: output channels.
    input_embedding_dim: input projection size.
    tod_embedding_dim: time-of-day embedding size (0 = off).
    dow_embedding_dim: day-of-week embedding size (0 = off).
    moy_embedding_dim: month-of-year embedding size (0 = off).
    spatial_embedding_dim: learned per-node embedding size (0 = off, as in
      STAEformer's configs).
    adaptive_embedding_dim: spatio-temporal adaptive embedding size (0 = off).
    feed_forward_dim: hidden size of the blocks' feed-forward layers.
    num_heads: attention heads; must divide `model_dim`.
    num_temporal_layers, num_spatial_layers: blocks per axis.
    dropout_rate: residual-branch dropout in every block (training only).
    use_mixed_proj: mixed output projection of `in_steps * model_dim`; if
      False, a per-step temporal projection then a per-feature one.
    temporal_attention, spatial_attention: attention kinds per axis.
    attention_options, temporal_attention_options, spatial_attention_options:
      options of the attention kinds, see above.
    time_of_day_channel: channel of `x` holding the time-of-day fraction in
      `[0, 1)`.
    day_of_week_channel: channel of `x` holding the day-of-week index 0..6
      (as a float).
    month_of_year_channel: channel of `x` holding the month index 0..11.
    future_dim: known-future covariates in the `future` input (0 = none).
    window_normalization: ``"none"``, ``"last_value"`` or ``"window_scale"``
      (see above).
    layer_norm_epsilon: LayerNorm epsilon (PyTorch's 1e-5, as STAEformer).
    dtype: computation dtype name (e.g. ``"bfloat16"``); None infers it.
  """

  num_nodes: int
  in_steps: int = 12
  out_steps: int = 12
  steps_per_day: int = 288
  input_dim: int = 1
  output_dim: int = 1
  input_embedding_dim: int = 24
  tod_embedding_dim: int = 24
  dow_embedding_dim: int = 24
  moy_embedding_dim: int = 0
  spatial_embedding_dim: int = 0
  adaptive_embedding_dim: int = 80
  feed_forward_dim: int = 256
  num_heads: int = 4
  num_temporal_layers: int = 3
  num_spatial_layers: int = 3
  dropout_rate: float = 0.1
  use_mixed_proj: bool = True
  temporal_attention: str = "eala"
  spatial_attention: str = "eala"
  attention_options: Mapping[str, Any] = dataclasses.field(default_factory=FrozenDict)
  temporal_attention_options: Mapping[str, Any] = dataclasses.field(default_factory=FrozenDict)
  spatial_attention_options: Mapping[str, Any] = dataclasses.field(default_factory=FrozenDict)
  time_of_day_channel: int = 1
  day_of_week_channel: int = 2
  month_of_year_channel: int = 0
  future_dim: int = 0
  window_normalization: str = "none"
  layer_norm_epsilon: float = 1e-5
  dtype: str | None = None

  def __post_init__(self):
    # Frozen mappings keep the config hashable (it is static model metadata).
    for name in _OPTION_FIELDS:
      object.__setattr__(self, name, FrozenDict(getattr(self, name)))
    positive = (
        "num_nodes", "in_steps", "out_steps", "steps_per_day", "input_dim",
        "output_dim", "input_embedding_dim", "feed_forward_dim", "num_heads",
    )
    for name in positive:
      if getattr(self, name) < 1:
        raise ValueError(f"ELinFormerConfig: {name} must be >= 1, got {getattr(self, name)}.")
    non_negative = (
        "tod_embedding_dim", "dow_embedding_dim", "moy_embedding_dim", "spatial_embedding_dim",
        "adaptive_embedding_dim", "num_temporal_layers", "num_spatial_layers",
        "time_of_day_channel", "day_of_week_channel", "month_of_year_channel", "future_dim",
    )
    for name in non_negative:
      if getattr(self, name) < 0:
        raise ValueError(f"ELinFormerConfig: {name} must be >= 0, got {getattr(self, name)}.")
    if self.model_dim % self.num_heads:
      raise ValueError(
          f"ELinFormerConfig: model_dim={self.model_dim} (sum of the embedding"
          f" sizes) must be divisible by num_heads={self.num_heads}."
      )
    for name in ("temporal_attention", "spatial_attention"):
      get_kind(getattr(self, name), "ELinFormerConfig", name)
    if self.window_normalization not in WINDOW_NORMALIZATIONS:
      raise ValueError(
          f"ELinFormerConfig: window_normalization must be one of {list(WINDOW_NORMALIZATIONS)},"
          f" got {self.window_normalization!r}."
      )
    if not 0.0 <= self.dropout_rate < 1.0:
      raise ValueError(
          f"ELinFormerConfig: dropout_rate must be in [0, 1), got {self.dropout_rate}."
      )

  @property
  def model_dim(self) -> int:
    """Width of the blocks: the sum of the embedding sizes."""
    return (
        self.input_embedding_dim + self.tod_embedding_dim + self.dow_embedding_dim
        + self.moy_embedding_dim + self.spatial_embedding_dim + self.adaptive_embedding_dim
    )

  @property
  def num_channels(self) -> int:
    """The fewest input channels the model reads."""
    channels = [self.input_dim]
    if self.tod_embedding_dim:
      channels.append(self.time_of_day_channel + 1)
    if self.dow_embedding_dim:
      channels.append(self.day_of_week_channel + 1)
    if self.moy_embedding_dim:
      channels.append(self.month_of_year_channel + 1)
    return max(channels)

  def axis_attention_options(self, axis: str) -> FrozenDict:
    """Options of the ``"temporal"`` or ``"spatial"`` axis' attention."""
    return FrozenDict({**self.attention_options, **getattr(self, f"{axis}_attention_options")})

  def to_dict(self) -> dict[str, Any]:
    """Plain (JSON-ready) fields."""
    fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    for name in _OPTION_FIELDS:
      fields[name] = dict(fields[name])
    return fields

  @classmethod
  def from_dict(cls, fields: Mapping[str, Any]) -> ELinFormerConfig:
    """Inverse of :meth:`to_dict`; unknown fields raise."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
      raise ValueError(f"ELinFormerConfig.from_dict: unknown fields {unknown}.")
    return cls(**fields)


class ELinFormer(nnx.Module):
  """STAEformer-style forecaster whose attention kind is chosen per axis.

  Starts in training mode (dropout active), like Flax modules; call
  ``model.eval()`` (or pass ``deterministic=True``) for inference.

  Example usage::

    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> from entropy_attention_jax import ELinFormer, ELinFormerConfig
    >>> config = ELinFormerConfig(num_nodes=170, in_steps=12, out_steps=12,
    ...                           temporal_attention="eala", spatial_attention="eala")
    >>> model = ELinFormer(config, rngs=nnx.Rngs(0))
    >>> model(jnp.zeros((2, 12, 170, 3)), deterministic=True).shape
    (2, 12, 170, 1)

  Args:
    config: sizes and switches.
    rngs: `params` stream for initialisation, `dropout` (falling back to
      `default`) for dropout.
  """

  def __init__(self, config: ELinFormerConfig, *, rngs: nnx.Rngs):
    self.config = config
    c = config
    dtype = None if c.dtype is None else jnp.dtype(c.dtype)
    self.input_projection = nnx.Linear(c.input_dim, c.input_embedding_dim, dtype=dtype, rngs=rngs)
    self.time_of_day_embedding = (
        PeriodicEmbedding(c.steps_per_day, c.tod_embedding_dim, dtype=dtype, rngs=rngs)
        if c.tod_embedding_dim else None
    )
    self.day_of_week_embedding = (
        PeriodicEmbedding(DAYS_PER_WEEK, c.dow_embedding_dim, dtype=dtype, rngs=rngs)
        if c.dow_embedding_dim else None
    )
    self.month_of_year_embedding = (
        PeriodicEmbedding(MONTHS_PER_YEAR, c.moy_embedding_dim, dtype=dtype, rngs=rngs)
        if c.moy_embedding_dim else None
    )
    self.node_embedding = (
        AdaptiveEmbedding((c.num_nodes, c.spatial_embedding_dim), rngs=rngs)
        if c.spatial_embedding_dim else None
    )
    self.adaptive_embedding = (
        AdaptiveEmbedding((c.in_steps, c.num_nodes, c.adaptive_embedding_dim), rngs=rngs)
        if c.adaptive_embedding_dim else None
    )

    def blocks(axis: str, count: int) -> nnx.List:
      return nnx.List([
          TransformerBlock(
              c.model_dim, c.num_heads, c.feed_forward_dim,
              attention=getattr(c, f"{axis}_attention"),
              attention_options=c.axis_attention_options(axis),
              dropout_rate=c.dropout_rate, layer_norm_epsilon=c.layer_norm_epsilon,
              dtype=dtype, rngs=rngs,
          )
          for _ in range(count)
      ])

    self.temporal_layers = blocks("temporal", c.num_temporal_layers)
    self.spatial_layers = blocks("spatial", c.num_spatial_layers)
    if c.use_mixed_proj:
      self.temporal_projection = None
      self.output_projection = nnx.Linear(
          c.in_steps * c.model_dim, c.out_steps * c.output_dim, dtype=dtype, rngs=rngs
      )
    else:
      self.temporal_projection = nnx.Linear(c.in_steps, c.out_steps, dtype=dtype, rngs=rngs)
      self.output_projection = nnx.Linear(c.model_dim, c.output_dim, dtype=dtype, rngs=rngs)
    self.future_projection = (
        nnx.Linear(c.out_steps * c.future_dim, c.out_steps * c.output_dim, dtype=dtype, rngs=rngs)
        if c.future_dim else None
    )

  def _check_inputs(self, x: Array) -> None:
    c = self.config
    expected = f"[batch, in_steps={c.in_steps}, nodes={c.num_nodes}, channels>={c.num_channels}]"
    if x.ndim != 4:
      raise ValueError(f"ELinFormer: inputs must be {expected}, got shape {x.shape}.")
    if x.shape[1] != c.in_steps or x.shape[2] != c.num_nodes or x.shape[3] < c.num_channels:
      raise ValueError(
          f"ELinFormer: inputs must be {expected}, got shape {x.shape} (axis 1 is"
          " time, axis 2 nodes, axis 3 channels: signal, time of day, day of week)."
      )
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(f"ELinFormer: inputs must be floating point, got {x.dtype}.")

  def embed(self, x: Array) -> Array:
    """Concatenated input embeddings, `[batch, in_steps, nodes, model_dim]`."""
    c = self.config
    batch = x.shape[0]
    features = [self.input_projection(x[..., : c.input_dim])]
    if self.time_of_day_embedding is not None:
      features.append(
          self.time_of_day_embedding(x[..., c.time_of_day_channel] * c.steps_per_day)
      )
    if self.day_of_week_embedding is not None:
      features.append(self.day_of_week_embedding(x[..., c.day_of_week_channel]))
    if self.month_of_year_embedding is not None:
      features.append(self.month_of_year_embedding(x[..., c.month_of_year_channel]))
    if self.node_embedding is not None:
      features.append(self.node_embedding((batch, c.in_steps)))
    if self.adaptive_embedding is not None:
      features.append(self.adaptive_embedding((batch,)))
    dtype = jnp.dtype(c.dtype) if c.dtype else jnp.result_type(*features)
    return jnp.concatenate([f.astype(dtype) for f in features], axis=-1)

  def __call__(
      self, x: Array, future: Array | None = None, *, deterministic: bool | None = None
  ) -> Array:
    """Forecasts `out_steps` ahead.

    Args:
      x: `[batch, in_steps, nodes, channels]`: `x[..., :input_dim]` the signal
        (already normalised; channel 0 the target) and other inputs,
        `x[..., time_of_day_channel]` the time-of-day fraction in `[0, 1)`,
        `x[..., day_of_week_channel]` the day-of-week index 0..6,
        `x[..., month_of_year_channel]` the month index 0..11 (channels of
        switched-off embeddings are not read).
      future: `[batch, out_steps, nodes, future_dim]` known-future covariates
        over the horizon; required when `future_dim > 0`, else must be None.
      deterministic: disables dropout; overrides ``train()`` / ``eval()``.

    Returns:
      Output of shape `[batch, out_steps, nodes, output_dim]`.

    Raises:
      ValueError: `x` or `future` has the wrong rank, steps, nodes or channels.
      TypeError: `x` is not floating point.
    """
    self._check_inputs(x)
    c = self.config
    if (future is None) != (c.future_dim == 0) or (
        future is not None and future.shape != (x.shape[0], c.out_steps, c.num_nodes, c.future_dim)
    ):
      raise ValueError(
          f"ELinFormer: future must be [batch, out_steps={c.out_steps}, nodes={c.num_nodes},"
          f" future_dim={c.future_dim}]" + (" or None" if not c.future_dim else "")
          + f", got {None if future is None else future.shape}."
      )
    offset = scale = None
    if c.window_normalization != "none":
      offset = x[:, -1:, :, :1]  # [batch, 1, nodes, 1]: the target's last input value.
      x = x.at[..., :1].add(-offset)
      if c.window_normalization == "window_scale":
        scale = jnp.sqrt(jnp.var(x[..., :1], axis=1, keepdims=True) + _MIN_WINDOW_VARIANCE)
        x = x.at[..., :1].divide(scale)
    h = self.embed(x)
    # Temporal blocks attend along time: put in_steps on the length axis.
    h = jnp.swapaxes(h, 1, 2)  # [batch, nodes, in_steps, model_dim]
    for layer in self.temporal_layers:
      h = layer(h, deterministic=deterministic)
    h = jnp.swapaxes(h, 1, 2)  # [batch, in_steps, nodes, model_dim]
    for layer in self.spatial_layers:
      h = layer(h, deterministic=deterministic)

    batch = x.shape[0]
    if self.temporal_projection is None:
      h = jnp.swapaxes(h, 1, 2).reshape(batch, c.num_nodes, c.in_steps * c.model_dim)
      out = self.output_projection(h).reshape(batch, c.num_nodes, c.out_steps, c.output_dim)
      out = jnp.swapaxes(out, 1, 2)
    else:
      h = self.temporal_projection(jnp.moveaxis(h, 1, -1))  # [batch, nodes, model_dim, out_steps]
      out = self.output_projection(jnp.moveaxis(h, -1, 1))  # [batch, out_steps, nodes, output_dim]
    if self.future_projection is not None:
      f = jnp.swapaxes(future, 1, 2).reshape(batch, c.num_nodes, c.out_steps * c.future_dim)
      f = self.future_projection(f.astype(out.dtype))
      out = out + jnp.swapaxes(f.reshape(batch, c.num_nodes, c.out_steps, c.output_dim), 1, 2)
    if scale is not None:
      out = out * scale.astype(out.dtype)
    if offset is not None:
      out = out + offset.astype(out.dtype)
    return out
