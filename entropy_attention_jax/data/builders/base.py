"""The TFDS builder shared by every dataset: one time-ordered series per build.

A built dataset is ONE split, `"series"`, whose examples are consecutive
chunks of time steps in order:

- `values`: `[chunk_steps, nodes + covariates, channels]` float32 (stored as
  raw bytes): the nodes, then the covariate series (repeated over channels);
  NaN marks missing values,
- `first_step`: int64 index of the chunk's first step in the series,

plus the series' `SeriesInfo` in the TFDS metadata (`metadata.json`: start
time, step size, node ids, channel names, default split ratios, provenance).
Train/val/test windows are cut at load time (`windows.py`), so one build serves
any window length or split ratio.

TensorFlow is not needed: builders write `array_record` files, and readers use
`as_data_source()` (random access, decoded to NumPy).
"""

from __future__ import annotations

import abc
import dataclasses
import pathlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds

from entropy_attention_jax.data.errors import DataError, MissingFileError
from entropy_attention_jax.data.readers import file_sha256
from entropy_attention_jax.data.series import Series, SeriesInfo, check_finite

SERIES_SPLIT = "series"
FILE_FORMAT = "array_record"
# Target size of one stored chunk; a chunk is at least one step.
CHUNK_BYTES = 4 << 20


@dataclasses.dataclass(frozen=True)
class BuilderOption:
  """A build option (a CLI flag `--name`) that selects a builder config.

  Attributes:
    name: keyword name, e.g. `"nodes"` (flag `--nodes`).
    type: `int`, `str`, ...; values are converted with it.
    default: value when not given; `None` means required for building.
    help: one line for `--help`.
  """

  name: str
  type: type
  default: Any
  help: str


class SeriesBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the dataset builders: writes a `Series` as ordered chunks.

  Subclasses set `VERSION`, `DESCRIPTION`, and either `MANUAL_FILES` (files the
  user provides, looked up in the manual directory) or their own `OPTIONS`
  with `make_config`, and implement `_series_blocks`.
  """

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES: ClassVar[dict[str, str]] = {
      "1.0.0": "Initial release.",
      "1.1.0": "NaN marks missing values; covariates; calendar frequencies; time zones.",
  }
  DESCRIPTION: ClassVar[str] = ""
  HOMEPAGE: ClassVar[str] = ""
  CITATION: ClassVar[str] = ""
  # Candidate names of the manual file, relative to the manual directory; the
  # first that exists is used. Empty for datasets that need no manual file.
  MANUAL_FILES: ClassVar[tuple[str, ...]] = ()
  OPTIONS: ClassVar[tuple[BuilderOption, ...]] = ()
  DEFAULT_SPLIT_RATIOS: ClassVar[tuple[float, float, float]] = (0.7, 0.1, 0.2)
  # How inputs are z-scored unless a run says otherwise (see `scaler.py`):
  # per node for anyone's tables, global where a benchmark's convention is.
  DEFAULT_SCALING: ClassVar[str] = "per_node"
  # `(in_steps, out_steps)` of the dataset's convention; None: from the
  # frequency (`calendar.default_window`).
  DEFAULT_WINDOW: ClassVar[tuple[int, int] | None] = None

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    if cls.MANUAL_FILES:
      # TFDS only exposes `dl_manager.manual_dir` to builders that set this.
      cls.MANUAL_DOWNLOAD_INSTRUCTIONS = (
          f"Place one of {list(cls.MANUAL_FILES)} (relative paths) in the manual"
          " directory (`--manual-dir`, default `<data-dir>/downloads/manual`)."
      )

  @classmethod
  def make_config(cls, **options: Any) -> tfds.core.BuilderConfig | None:
    """The builder config for `options` (validated); `None` if unconfigurable."""
    del options  # Builders without OPTIONS have no config.
    return None

  @classmethod
  def find_manual_file(cls, manual_dir: str | pathlib.Path) -> pathlib.Path:
    """The first of `MANUAL_FILES` present in `manual_dir`.

    Raises:
      MissingFileError: none is there; the message names all candidates and
        the directory.
    """
    manual_dir = pathlib.Path(manual_dir)
    for candidate in cls.MANUAL_FILES:
      if (manual_dir / candidate).is_file():
        return manual_dir / candidate
    others = cls.MANUAL_FILES[1:]
    alternatives = f" (or one of {list(others)})" if others else ""
    raise MissingFileError(
        f"{cls.name}: expected the file {cls.MANUAL_FILES[0]!r}{alternatives} in the"
        f" manual directory {str(manual_dir.resolve())!r}, but it is not there. This"
        " package does not download it: copy your file there, or pass --manual-dir"
        " (manual_dir=) pointing at the folder that holds it."
    )

  def source_file(self, manual_dir: str | pathlib.Path | None) -> pathlib.Path | None:
    """The input file a build reads, if any (its SHA-256 guards rebuilds).

    Raises:
      MissingFileError: the file is not there.
    """
    return self.find_manual_file(manual_dir) if self.MANUAL_FILES else None

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        features=tfds.features.FeaturesDict({
            "values": tfds.features.Tensor(
                shape=(None, None, None),
                dtype=np.float32,
                encoding=tfds.features.Encoding.BYTES,
            ),
            "first_step": np.int64,
        }),
        homepage=self.HOMEPAGE or None,
        citation=self.CITATION or None,
        metadata=tfds.core.MetadataDict(),
        # The examples are consecutive chunks of one series: keep their order.
        disable_shuffling=True,
    )

  def _manual_file(self, dl_manager: tfds.download.DownloadManager) -> pathlib.Path:
    try:
      manual_dir = dl_manager.manual_dir
    except AssertionError as e:  # TFDS's way of saying the directory is missing/empty.
      raise MissingFileError(f"{self.name}: {e}") from None
    return self.find_manual_file(manual_dir)

  @abc.abstractmethod
  def _series_blocks(
      self, dl_manager: tfds.download.DownloadManager
  ) -> tuple[SeriesInfo, Iterator[np.ndarray]]:
    """The series' info and its stored values as consecutive blocks.

    Blocks are `[steps, nodes + covariates, channels]` (see `stored_values`).
    """

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    info, blocks = self._series_blocks(dl_manager)
    self.info.metadata.update(info.to_metadata())
    return {SERIES_SPLIT: self._generate_examples(info, blocks)}

  def _generate_examples(self, info: SeriesInfo, blocks: Iterator[np.ndarray]):
    first_step = 0
    columns = info.num_nodes + info.num_covariates
    zero_readings = np.zeros(info.num_channels, np.int64)
    nan_readings = np.zeros(info.num_channels, np.int64)
    for index, block in enumerate(blocks):
      if block.shape[1:] != (columns, info.num_channels):
        raise DataError(
            f"{self.name}: block {index} has shape {block.shape}, expected"
            f" [steps, {columns}, {info.num_channels}]."
        )
      check_finite(block, info, first_step)
      targets = block[: max(0, min(block.shape[0], info.observed_steps - first_step)), : info.num_nodes]
      zero_readings += (targets == 0).sum(axis=(0, 1))
      nan_readings += np.isnan(targets).sum(axis=(0, 1))
      yield index, {"values": block.astype(np.float32, copy=False), "first_step": first_step}
      first_step += block.shape[0]
    if first_step != info.num_steps:
      raise DataError(f"{self.name}: wrote {first_step} steps, expected {info.num_steps}.")
    # `data info` reports these counts (of the observed node values).
    self.info.metadata["extra"]["zero_readings"] = zero_readings.tolist()
    self.info.metadata["extra"]["nan_readings"] = nan_readings.tolist()


def stored_values(series: Series) -> np.ndarray:
  """`[steps, nodes + covariates, channels]`: the layout a build stores."""
  if not series.info.num_covariates:
    return series.values
  covariates = np.repeat(series.covariates[:, :, None], series.info.num_channels, axis=2)
  return np.concatenate([series.values, covariates], axis=1)


def split_stored_values(values: np.ndarray, info: SeriesInfo) -> Series:
  """Inverse of `stored_values`."""
  return Series(values[:, : info.num_nodes], info, values[:, info.num_nodes :, 0])


def array_blocks(values: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
  """Splits `[steps, nodes, channels]` into consecutive blocks of ~`chunk_bytes`."""
  step_bytes = max(values[0].size, 1) * 4
  chunk_steps = max(1, chunk_bytes // step_bytes)
  for begin in range(0, values.shape[0], chunk_steps):
    yield values[begin : begin + chunk_steps]


def series_blocks(
    series: Series, source: pathlib.Path, **provenance: Any
) -> tuple[SeriesInfo, Iterator[np.ndarray]]:
  """`(info, blocks)` of a `Series` read whole from the file `source`.

  The file's name and SHA-256 (which guards rebuilds) and `provenance` are
  recorded in `info.extra`.
  """
  extra = {
      **series.info.extra,
      "source_file": source.name,
      "source_sha256": file_sha256(source),
      **provenance,
  }
  return dataclasses.replace(series.info, extra=extra), array_blocks(stored_values(series))
