"""Dataset names -> builders; building, locating and reading built datasets.

A built dataset lives in `<data_dir>/<name>[/<config>]/<version>/` (TFDS's
layout). Building never overwrites silently: a dataset already built from a
different source file (checked by SHA-256) is an error unless `overwrite=True`;
one built from the same input is reused.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from entropy_attention_jax.data.builders.base import (
    FILE_FORMAT,
    SERIES_SPLIT,
    SeriesBuilder,
    split_stored_values,
)
from entropy_attention_jax.data.builders.chicago_ridership import ChicagoRidership
from entropy_attention_jax.data.builders.lagged_network import LaggedNetwork
from entropy_attention_jax.data.builders.pems import Pems03, Pems04, Pems07, Pems08
from entropy_attention_jax.data.builders.speed_tables import MetrLa, PemsBay
from entropy_attention_jax.data.builders.synthetic_traffic import SyntheticTraffic
from entropy_attention_jax.data.builders.wide_table import WideTable
from entropy_attention_jax.data.calendar import default_window
from entropy_attention_jax.data.errors import DataError
from entropy_attention_jax.data.readers import file_sha256
from entropy_attention_jax.data.series import Series, SeriesInfo
from entropy_attention_jax.data.windows import split_windows

DATASETS: dict[str, type[SeriesBuilder]] = {
    builder.name: builder
    for builder in (
        SyntheticTraffic, ChicagoRidership, Pems03, Pems04, Pems07, Pems08,
        MetrLa, PemsBay, WideTable, LaggedNetwork,
    )
}


def dataset_names() -> tuple[str, ...]:
  """Names accepted by `build_dataset`, `load_forecasting_data` and the CLI."""
  return tuple(DATASETS)


def get_builder_class(name: str) -> type[SeriesBuilder]:
  """The builder class of a dataset name; raises `DataError` listing the known ones."""
  try:
    return DATASETS[name]
  except KeyError:
    raise DataError(
        f"Unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}."
    ) from None


def check_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
  """Validates builder options (dropping `None`s) and converts their types."""
  builder = get_builder_class(name)
  known = {option.name: option for option in builder.OPTIONS}
  checked = {}
  for key, value in options.items():
    if value is None:
      continue
    if key not in known:
      accepted = ", ".join(known) or "none"
      raise DataError(f"{name} takes no option {key!r} (its options: {accepted}).")
    kind = known[key].type
    try:
      checked[key] = kind(value)
    except (TypeError, ValueError):
      checked[key] = None
    if checked[key] is None or (isinstance(value, float) and checked[key] != value):
      raise DataError(f"{name}: option {key!r} must be {kind.__name__}, got {value!r}.")
  return checked


def default_manual_dir(data_dir: str | pathlib.Path) -> pathlib.Path:
  """TFDS's default place for manual files: `<data_dir>/downloads/manual`."""
  return pathlib.Path(data_dir) / "downloads" / "manual"


def make_builder(name: str, data_dir: str | pathlib.Path, **options: Any) -> SeriesBuilder:
  """A builder instance for `name` with its config chosen by `options`."""
  builder_class = get_builder_class(name)
  config = builder_class.make_config(**check_options(name, options))
  return builder_class(data_dir=str(data_dir), config=config, file_format=FILE_FORMAT)


def built_configs(name: str, data_dir: str | pathlib.Path) -> list[str]:
  """Config names of `name` built (at the current version) in `data_dir`."""
  builder_class = get_builder_class(name)
  root = pathlib.Path(data_dir) / name
  if not root.is_dir():
    return []
  version = str(builder_class.VERSION)
  return sorted(
      p.name for p in root.iterdir() if (p / version / "dataset_info.json").is_file()
  )


def _dataset_path(name: str, data_dir: str | pathlib.Path, config_name: str | None) -> pathlib.Path:
  builder_class = get_builder_class(name)
  path = pathlib.Path(data_dir) / name
  if config_name is not None:
    path = path / config_name
  return path / str(builder_class.VERSION)


def _build_command(name: str, data_dir: str | pathlib.Path, options: Mapping[str, Any]) -> str:
  flags = "".join(f" --{k.replace('_', '-')} {v}" for k, v in options.items())
  return f"python -m entropy_attention_jax data build {name} --data-dir {data_dir}{flags}"


def resolve_config(
    name: str, data_dir: str | pathlib.Path, options: Mapping[str, Any]
) -> str | None:
  """The config to read: from `options`, else the default or the only one built.

  Raises:
    DataError: no options and several configs built (they are listed), or
      nothing built and no default config (`wide_table` needs `file`).
  """
  builder_class = get_builder_class(name)
  options = check_options(name, options)
  if not builder_class.OPTIONS:
    return None
  if options:
    return builder_class.make_config(**options).name
  built = built_configs(name, data_dir)
  default = builder_class.BUILDER_CONFIGS[0].name if builder_class.BUILDER_CONFIGS else None
  if default is not None and (default in built or not built):
    return default
  if len(built) == 1:
    return built[0]
  flags = ", ".join("--" + o.name.replace("_", "-") for o in builder_class.OPTIONS)
  if not built:
    return builder_class.make_config().name  # Raises, naming the required option.
  raise DataError(
      f"{name}: several configs are built in {str(data_dir)!r}: {built}; choose one"
      f" with the options ({flags})."
  )


def _read_info(path: pathlib.Path, config_name: str | None) -> SeriesInfo:
  metadata = tfds.builder_from_directory(str(path)).info.metadata or {}
  return SeriesInfo.from_metadata(metadata, config_name=config_name, data_path=str(path))


def dataset_info(name: str, data_dir: str | pathlib.Path, **options: Any) -> SeriesInfo:
  """Facts of a built dataset, read from its metadata only (no values).

  Raises:
    DataError: unknown name/options, or the dataset is not built (the message
      gives the command that builds it).
  """
  config_name = resolve_config(name, data_dir, options)
  path = _dataset_path(name, data_dir, config_name)
  if not (path / "dataset_info.json").is_file():
    command = _build_command(name, data_dir, check_options(name, options))
    raise DataError(
        f"{name}{'/' + config_name if config_name else ''} is not built in"
        f" {str(data_dir)!r}. Build it with: {command}"
    )
  return _read_info(path, config_name)


def _check_read_options(name: str, info: SeriesInfo, options: Mapping[str, Any]) -> None:
  """Refuses a build whose reading options (covariates, ...) differ from those given.

  Options not given are taken as built (so `--file F.csv` alone reads a table
  built with covariates).
  """
  given = check_options(name, options)
  config = get_builder_class(name).make_config(**given)
  if config is None or not hasattr(config, "read_options"):
    return
  stored, requested = info.extra.get("read_options"), config.read_options()
  changed = sorted(
      k for k in requested if k in given and stored is not None and stored.get(k) != requested[k]
  )
  if changed:
    details = ", ".join(f"{k}: built {stored.get(k)!r}, asked {requested[k]!r}" for k in changed)
    raise DataError(
        f"{name} in {info.data_path!r} was built with other options"
        f" ({details}). Pass the options it was built with to read it, overwrite=True"
        " (--overwrite) to rebuild it with the new ones, or build into another --data-dir."
    )


def dataset_window(info: SeriesInfo) -> tuple[int, int]:
  """Default `(in_steps, out_steps)` of a series: its dataset's convention, else its frequency's."""
  builder = DATASETS.get(info.name)
  window = getattr(builder, "DEFAULT_WINDOW", None)
  return tuple(window) if window else default_window(info.grid)


def check_windows(info: SeriesInfo, in_steps: int | None = None, out_steps: int | None = None,
                  split_ratios: Any = None) -> None:
  """Raises `DataError` unless every split of `info` gets a window.

  `in_steps`/`out_steps` default to `dataset_window(info)`.
  """
  default_in, default_out = dataset_window(info)
  split_windows(
      info.observed_steps, in_steps or default_in, out_steps or default_out,
      info.default_split_ratios if split_ratios is None else split_ratios,
  )


def build_dataset(
    name: str,
    data_dir: str | pathlib.Path,
    manual_dir: str | pathlib.Path | None = None,
    *,
    overwrite: bool = False,
    in_steps: int | None = None,
    out_steps: int | None = None,
    **options: Any,
) -> SeriesInfo:
  """Builds a dataset into `data_dir` (array_record files, no TensorFlow).

  Args:
    name: one of `dataset_names()`.
    data_dir: TFDS data directory to build into.
    manual_dir: where manual files are; default `<data_dir>/downloads/manual`.
    overwrite: delete an existing build and rebuild (needed when the source
      file changed).
    in_steps, out_steps: the window the data must fit in every split
      (default: `dataset_window`, the dataset's or the frequency's); a series
      too short for it is not kept.
    **options: dataset options (`nodes`, `days`, `seed` for `synthetic_traffic`;
      `file`, `timestamp_column` for `wide_table`).

  Returns:
    The built dataset's `SeriesInfo`.

  Raises:
    MissingFileError: the manual/source file is missing (the message names the
      expected file names and the directory).
    DataError: unknown name or option, bad file contents, or an existing build
      from a different source file without `overwrite`.
  """
  builder = make_builder(name, data_dir, **options)
  manual_dir = pathlib.Path(manual_dir) if manual_dir is not None else default_manual_dir(data_dir)
  source = builder.source_file(manual_dir)
  config_name = builder.builder_config.name if builder.builder_config else None
  if (builder.data_path / "dataset_info.json").is_file() and not overwrite:
    info = _read_info(builder.data_path, config_name)
    stored = info.extra.get("source_sha256")
    current = file_sha256(source) if source is not None and stored is not None else stored
    if current != stored:
      raise DataError(
          f"{name} in {str(builder.data_path)!r} was built from"
          f" {info.extra.get('source_file')!r} with SHA-256 {stored[:12]}..., but"
          f" {str(source)!r} has SHA-256 {current[:12]}... (a changed or different"
          " file). Pass overwrite=True (--overwrite) to rebuild it."
      )
    _check_read_options(name, info, options)
    return info
  if builder.data_path.exists():
    # An explicit overwrite, or the leftovers of a build that did not finish.
    shutil.rmtree(builder.data_path)
    builder = make_builder(name, data_dir, **options)
  with _progress_bars(sys.stderr.isatty()):
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(manual_dir), try_download_gcs=False
        ),
    )
  info = _read_info(builder.data_path, config_name)
  try:
    check_windows(info, in_steps, out_steps)
  except DataError as e:
    shutil.rmtree(builder.data_path)  # Ours, just written: an unusable build is not kept.
    raise DataError(f"{name}: not built, the series is too short: {e}") from None
  return info


@contextlib.contextmanager
def _progress_bars(enabled: bool):
  """TFDS's build progress bars on or off for one build (a terminal wants them, logs do not)."""
  from tensorflow_datasets.core.utils import tqdm_utils  # pylint: disable=g-import-not-at-top

  previous = getattr(tqdm_utils, "_active", True)
  tfds.display_progress_bar(enabled)
  try:
    yield
  finally:
    tfds.display_progress_bar(previous)


def read_built_series(path: str | pathlib.Path, config_name: str | None = None) -> Series:
  """Reads a built dataset directory back into one `Series`.

  The chunks are read in order with `as_data_source()` into one preallocated
  `[steps, nodes, channels]` array (the only copy held).

  Raises:
    DataError: chunks that do not tile the series as the metadata says.
  """
  path = pathlib.Path(path)
  builder = tfds.builder_from_directory(str(path))
  info = SeriesInfo.from_metadata(
      builder.info.metadata or {}, config_name=config_name, data_path=str(path)
  )
  source = builder.as_data_source(SERIES_SPLIT)
  columns = info.num_nodes + info.num_covariates
  values = np.empty((info.num_steps, columns, info.num_channels), np.float32)
  next_step = 0
  for index in range(len(source)):
    example = source[index]
    block, first_step = example["values"], int(example["first_step"])
    if (
        first_step != next_step
        or block.shape[1:] != values.shape[1:]
        or first_step + block.shape[0] > info.num_steps
    ):
      raise DataError(
          f"{str(path)!r} is corrupt: chunk {index} holds steps {first_step}.."
          f"{first_step + block.shape[0]} with shape {block.shape}, expected to"
          f" start at step {next_step} with [steps, {columns},"
          f" {info.num_channels}]. Rebuild it with overwrite=True."
      )
    values[first_step : first_step + block.shape[0]] = block
    next_step += block.shape[0]
  if next_step != info.num_steps:
    raise DataError(f"{str(path)!r} is corrupt: {next_step} of {info.num_steps} steps stored.")
  return split_stored_values(values, info)


def load_series(
    name: str,
    data_dir: str | pathlib.Path,
    *,
    manual_dir: str | pathlib.Path | None = None,
    build_if_missing: bool = True,
    in_steps: int | None = None,
    out_steps: int | None = None,
    **options: Any,
) -> Series:
  """The whole series of a dataset, building it first if needed and allowed.

  `in_steps`/`out_steps`: the window a build must fit (see `build_dataset`).
  """
  config_name = resolve_config(name, data_dir, options)
  path = _dataset_path(name, data_dir, config_name)
  if not (path / "dataset_info.json").is_file():
    if not build_if_missing:
      dataset_info(name, data_dir, **options)  # Raises "not built; build with ...".
    build_dataset(name, data_dir, manual_dir, in_steps=in_steps, out_steps=out_steps, **options)
  elif options:
    _check_read_options(name, _read_info(path, config_name), options)
  return read_built_series(path, config_name)
