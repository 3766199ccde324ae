"""Saving and restoring model state with Orbax: one format for every model.

A model's variables split into ``{"params": nnx.Param state, "fixed": the
other variables}`` (Performer features, ...; neither RNG streams nor sown
intermediates). That dict, written with Orbax's standard checkpoint handler,
is *the* model checkpoint: the training loop stores it as the best model
(``W/best/<step>/model``) and :func:`save_model` stores it under
``<directory>/model``, beside the model's RNG streams (``rngs/``, so that
dropout continues exactly) and, for :class:`ELinFormer`, its configuration
(``config.json``)::

  save_model("/tmp/run/model", model)
  model = restore_model("/tmp/run/model")             # ELinFormer from config.json
  model = restore_model("/tmp/run/model", template)   # any model of the same structure
  model = restore_model("W/best/120", template)       # a training run's best model

A trained run is loaded with `entropy_attention_jax.training.load_model(W)`,
which rebuilds the template from the run's config. Restoring never initialises
parameters: the template is built abstractly with `nnx.eval_shape`, split, and
merged with the restored arrays.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from flax import nnx

from entropy_attention_jax.models.elinformer import ELinFormer, ELinFormerConfig

MODEL_DIR = "model"
RNGS_DIR = "rngs"
CONFIG_FILE = "config.json"
# What a checkpoint's "fixed" half leaves out: RNG streams and sown intermediates.
_NOT_FIXED = nnx.Any(nnx.Param, nnx.RngState, nnx.Intermediate)


def model_variables(model: nnx.Module) -> dict[str, nnx.State]:
  """``{"params", "fixed"}``: the state a model checkpoint holds."""
  return {
      "params": nnx.state(model, nnx.Param),
      "fixed": nnx.state(model, nnx.Not(_NOT_FIXED)),
  }


def abstract_elinformer(config: ELinFormerConfig) -> ELinFormer:
  """An ELinFormer of `config` whose arrays are shapes only (nothing allocated)."""
  return nnx.eval_shape(lambda: ELinFormer(config, rngs=nnx.Rngs(0)))


def save_model(
    directory: str | pathlib.Path, model: nnx.Module, *, overwrite: bool = False
) -> pathlib.Path:
  """Saves `model`'s variables, RNG streams (and an ELinFormer's config) under `directory`.

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
  checkpointer.save(directory / MODEL_DIR, model_variables(model), force=overwrite)
  checkpointer.save(directory / RNGS_DIR, nnx.state(model, nnx.RngState), force=overwrite)
  checkpointer.wait_until_finished()
  return directory


def _load_model_config(directory: pathlib.Path) -> ELinFormerConfig:
  path = directory / CONFIG_FILE
  if not path.is_file():
    raise FileNotFoundError(
        f"restore_model: no {CONFIG_FILE} in {directory}; it is written only for"
        " ELinFormer models. Pass a template model to restore_model instead."
    )
  return ELinFormerConfig.from_dict(json.loads(path.read_text()))


def _abstract(tree: Any) -> Any:
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)


def _concrete(x: Any) -> Any:
  # RNG state of an abstract template with no saved streams: seed 0, count 0.
  if not isinstance(x, jax.ShapeDtypeStruct):
    return x
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    return jnp.broadcast_to(jax.random.key(0), x.shape)
  return jnp.zeros(x.shape, x.dtype)


def restore_model(
    directory: str | pathlib.Path, template: nnx.Module | None = None
) -> nnx.Module:
  """Restores a model saved by :func:`save_model` (or a run's best checkpoint).

  Args:
    directory: what :func:`save_model` wrote, or a step directory of a
      training run's ``W/best`` (its RNG streams are not stored: the
      template's are kept).
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
  if not (directory / MODEL_DIR).is_dir():
    raise FileNotFoundError(f"restore_model: no saved state in {directory / MODEL_DIR}.")
  if template is None:
    template = abstract_elinformer(_load_model_config(directory))
  graphdef, params, rngs, fixed, rest = nnx.split(
      template, nnx.Param, nnx.RngState, nnx.Not(nnx.Intermediate), ...
  )
  target = _abstract({"params": params, "fixed": fixed})
  checkpointer = ocp.StandardCheckpointer()
  _check_structure(checkpointer.metadata(directory / MODEL_DIR), target, directory)
  restored = checkpointer.restore(directory / MODEL_DIR, target)
  if (directory / RNGS_DIR).is_dir():
    rngs = checkpointer.restore(directory / RNGS_DIR, _abstract(rngs))
  else:
    rngs = jax.tree.map(_concrete, rngs)
  return nnx.merge(graphdef, restored["params"], rngs, restored["fixed"], rest)


def _stored_shape(x: jax.ShapeDtypeStruct) -> tuple[int, ...]:
  """Shape as stored: typed PRNG keys are saved as their raw key data."""
  if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
    return tuple(jax.eval_shape(jax.random.key_data, x).shape)
  return tuple(x.shape)


def _flat(tree: Any) -> dict[str, Any]:
  """`{"params/a/b": leaf}`; each Variable is saved as {"value": array}: that key is dropped."""
  return {
      "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path
               if str(getattr(k, "key", getattr(k, "name", k))) != "value"): leaf
      for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
  }


def _check_structure(metadata, target: dict[str, nnx.State], directory: pathlib.Path) -> None:
  """Compares saved paths and shapes with the template's, before reading arrays."""
  saved = {path: tuple(leaf.shape) for path, leaf in _flat(metadata.item_metadata.tree).items()}
  expected = {path: _stored_shape(leaf) for path, leaf in _flat(target).items()}
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
