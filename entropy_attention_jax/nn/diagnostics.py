"""Reading attention diagnostics out of a forward pass without changing it.

Every :class:`~entropy_attention_jax.nn.EntropyLinearAttention` can sow, as
`nnx.Intermediate`:

* ``theta`` and ``entropy_target`` `[batch..., q_len, heads]` — EALA only: the
  sharpness used and the softmax-entropy estimate it matched;
* ``softmax_entropy`` `[batch..., q_len, heads]` — the exact entropy of softmax
  attention over the same projected queries and keys (quadratic time, key
  chunks; skipped for causal layers and general masks);
* ``attention_weights`` `[batch..., heads, q_len, kv_len]` — the explicit
  weights of the layer's own kind, when both lengths are at most
  `diagnostics_max_length`;
* ``softmax_weights`` `[batch..., heads, q_len, kv_len]` — beside those, for
  every other kind: softmax's weights over the same projected queries and keys
  (how far a kind's weights are from softmax's, layer by layer).

:func:`capture_attention_diagnostics` switches them on for one call through a
view of the model (the model itself is left as it was) and collects them with
`nnx.capture`. It can be called under `nnx.jit`.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import nnx

from entropy_attention_jax.nn.attention import EntropyLinearAttention
from entropy_attention_jax.typing import Array

Diagnostics = dict[str, dict[str, Any]]


def capture_attention_diagnostics(
    model: nnx.Module, *args: Any, **kwargs: Any
) -> tuple[Any, Diagnostics]:
  """Calls `model(*args, **kwargs)` and returns its outputs with the diagnostics.

  The outputs are bitwise identical to a plain call: the diagnostics are
  computed beside the attention, never inside it.

  Example::

    outputs, diagnostics = capture_attention_diagnostics(model, x, deterministic=True)
    diagnostics["spatial_layers/0/attention"]["theta"]  # [batch, steps, nodes, heads]

  Args:
    model: an NNX module containing :class:`EntropyLinearAttention` layers.
    *args: the call's positional arguments.
    **kwargs: the call's keyword arguments.

  Returns:
    `(outputs, diagnostics)`: `diagnostics` maps each sowing layer's path
    (``"temporal_layers/0/attention"``) to `{name: value}`; a value is the
    array sown by the layer's call, or a tuple of arrays (one per call) when
    the layer ran more than once.

  Raises:
    ValueError: the model has no :class:`EntropyLinearAttention` layer.
  """
  if not any(isinstance(m, EntropyLinearAttention) for _, m in nnx.iter_modules(model)):
    raise ValueError(
        "capture_attention_diagnostics: the model"
        f" {type(model).__name__} has no EntropyLinearAttention layer."
    )
  viewed = nnx.view(model, only=EntropyLinearAttention, collect_diagnostics=True)
  outputs, intermediates = nnx.capture(viewed, nnx.Intermediate)(*args, **kwargs)
  diagnostics: Diagnostics = {}
  for path, variable in nnx.to_flat_state(intermediates):
    layer = "/".join(str(part) for part in path[:-1])
    per_call = variable.get_value()
    diagnostics.setdefault(layer, {})[str(path[-1])] = (
        per_call[0] if len(per_call) == 1 else per_call
    )
  return outputs, diagnostics


def _stats(prefix: str, x: Array) -> dict[str, float]:
  x = jnp.asarray(x, jnp.float32)
  return {
      f"{prefix}_mean": float(jnp.mean(x)),
      f"{prefix}_std": float(jnp.std(x)),
      f"{prefix}_min": float(jnp.min(x)),
      f"{prefix}_max": float(jnp.max(x)),
  }


def summarize_attention_diagnostics(diagnostics: Diagnostics) -> dict[str, dict[str, float]]:
  """Per-layer scalar summaries of :func:`capture_attention_diagnostics` output.

  Gives, where the layer sowed the inputs: mean/std/min/max of θ and of the
  entropy target; the mean exact softmax entropy; the mean absolute error of
  the entropy target against it (``entropy_abs_error``, nats); and the fraction
  of negative explicit weights (``negative_weight_fraction``). Layers that ran
  more than once are summarised over all their calls' values concatenated.
  Runs eagerly (returns Python floats).

  Args:
    diagnostics: `{layer: {name: value}}` as returned by
      :func:`capture_attention_diagnostics`.

  Returns:
    ``{layer: {statistic: value}}``.
  """

  def flat(value) -> Array:
    parts = value if isinstance(value, tuple) else (value,)
    return jnp.concatenate([jnp.ravel(jnp.asarray(p, jnp.float32)) for p in parts])

  summary = {}
  for layer, values in diagnostics.items():
    stats: dict[str, float] = {}
    if "theta" in values:
      stats.update(_stats("theta", flat(values["theta"])))
    if "entropy_target" in values:
      stats.update(_stats("entropy_target", flat(values["entropy_target"])))
    if "softmax_entropy" in values:
      exact = flat(values["softmax_entropy"])
      stats["softmax_entropy_mean"] = float(jnp.mean(exact))
      if "entropy_target" in values:
        error = jnp.abs(flat(values["entropy_target"]) - exact)
        stats["entropy_abs_error"] = float(jnp.mean(error))
    if "attention_weights" in values:
      stats["negative_weight_fraction"] = float(
          jnp.mean(flat(values["attention_weights"]) < 0)
      )
    summary[layer] = stats
  return summary
