"""Saving and restoring model state with Orbax.

A saved model is a directory holding the Orbax checkpoint of the model's whole
NNX state (parameters, fixed variables such as Performer features, dropout RNG
state) under ``state/`` and, for :class:`ELinFormer`, its configuration as
``config.json`` — enough to rebuild the model with no other input::

  save_model("/tmp/run/model", model)
  model = restore_model("/tmp/run/model")             # ELinFormer from config.json
  model = restore_model("/tmp/run/model", template)   # any model of the same structure

Restoring never initialises parameters: the template is built abstractly with
`nnx.eval_shape`, split into graph and state, and merged with the restored
arrays. The training loop's `CheckpointManager` (keep latest and best) stores
the same `nnx.state` pytrees.
"""

from __future__ import annotations

import json
import pathlib

import jax
import orbax.checkpoint as ocp
from flax import nnx

from entropy_attention_jax.models.elinformer import ELinFormer, ELinFormerConfig

STATE_DIR = "state"
CONFIG_FILE = "config.json"


def model_state(model: nnx.Module) -> nnx.State:
  """The state a checkpoint holds: everything but sown intermediates."""
  return nnx.state(model, nnx.Not(nnx.Intermediate))


def abstract_elinformer(config: ELinFormerConfig) -> ELinFormer:
  """An ELinFormer of `config` whose arrays are shapes only (nothing allocated)."""
  return nnx.eval_shape(lambda: ELinFormer(config, rngs=nnx.Rngs(0)))


def save_model(
    directory: str | pathlib.Path, model: nnx.Module, *, overwrite: bool = False
) -> pathlib.Path:
  """Saves `model`'s state (and an ELinFormer's config) under `directory`.

  Args:
    directory: target directory; created.
    model: any NNX module.
    overwrite: replace an existing save instead of raising.

  Returns:
    The absolute directory.

  Raises:
    FileExistsError: `directory` exists and `overwrite` is False.
  """
  directory = pathlib.Path(directory).absolute()  # Orbax wants absolute paths
  if directory.exists() and not overwrite:
    raise FileExistsError(
        f"save_model: {directory} already exists; pass overwrite=True to replace it."
    )
  directory.mkdir(parents=True, exist_ok=True)
  config = getattr(model, "config", None)
  if isinstance(config, ELinFormerConfig):
    (directory / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(directory / STATE_DIR, model_state(model), force=overwrite)
  checkpointer.wait_until_finished()
  return directory


def load_config(directory: str | pathlib.Path) -> ELinFormerConfig:
  """The :class:`ELinFormerConfig` saved beside a model."""
  path = pathlib.Path(directory) / CONFIG_FILE
  if not path.is_file():
    raise FileNotFoundError(
        f"load_config: no {CONFIG_FILE} in {directory}; it is written only for"
        " ELinFormer models. Pass a template model to restore_model instead."
    )
  return ELinFormerConfig.from_dict(json.loads(path.read_text()))


def restore_model(
    directory: str | pathlib.Path, template: nnx.Module | None = None
) -> nnx.Module:
  """Restores a model saved by :func:`save_model`.

  Args:
    directory: what :func:`save_model` wrote.
    template: a model of the saved structure, concrete or abstract
      (``nnx.eval_shape(lambda: MyModel(..., rngs=nnx.Rngs(0)))``); only its
      structure, shapes and dtypes are used. None rebuilds an ELinFormer from
      the saved ``config.json``.

  Returns:
    A new model holding the saved state.

  Raises:
    FileNotFoundError: no checkpoint in `directory`.
    ValueError: the checkpoint does not fit the template.
  """
  directory = pathlib.Path(directory).absolute()
  if not (directory / STATE_DIR).is_dir():
    raise FileNotFoundError(f"restore_model: no saved state in {directory / STATE_DIR}.")
  if template is None:
    template = abstract_elinformer(load_config(directory))
  graphdef, state, rest = nnx.split(template, nnx.Not(nnx.Intermediate), ...)
  abstract_state = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
  checkpointer = ocp.StandardCheckpointer()
  _check_structure(checkpointer.metadata(directory / STATE_DIR), abstract_state, directory)
  restored = checkpointer.restore(directory / STATE_DIR, abstract_state)
  return nnx.merge(graphdef, restored, rest)


def _stored_shape(x: jax.ShapeDtypeStruct) -> tuple[int, ...]:
  """Shape as stored: typed PRNG keys are saved as their raw key data."""
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    return tuple(jax.eval_shape(jax.random.key_data, x).shape)
  return tuple(x.shape)


def _check_structure(metadata, abstract_state: nnx.State, directory: pathlib.Path) -> None:
  """Compares saved paths and shapes with the template's, before reading arrays."""
  saved = {
      # Each Variable is saved as {"value": array}; drop that last key.
      "/".join(str(getattr(k, "key", k)) for k in path[:-1]): tuple(leaf.shape)
      for path, leaf in jax.tree_util.tree_flatten_with_path(metadata.item_metadata.tree)[0]
  }
  expected = {
      "/".join(str(k) for k in path): _stored_shape(variable.get_value())
      for path, variable in nnx.to_flat_state(abstract_state)
  }
  problems = [f"missing in the checkpoint: {p}" for p in sorted(expected.keys() - saved.keys())]
  problems += [f"not in the template: {p}" for p in sorted(saved.keys() - expected.keys())]
  problems += [
      f"{p}: saved shape {saved[p]}, template shape {expected[p]}"
      for p in sorted(saved.keys() & expected.keys()) if saved[p] != expected[p]
  ]
  if problems:
    listed = "; ".join(problems[:8]) + ("; ..." if len(problems) > 8 else "")
    raise ValueError(
        f"restore_model: the checkpoint in {directory} does not match the template"
        f" ({len(problems)} difference(s)): {listed}"
    )
