"""`wide_table`: anyone's own data, a CSV or Parquet table of one series.

One row per time step; one timestamp column (the first, unless named with
`timestamp_column`) and one numeric column per node; timestamps evenly
spaced (the step must divide a day). Missing readings must be written as 0:
empty cells and NaN are reported, not filled. Each file is its own builder
config, named after the file (`traffic.csv` -> `wide_table/traffic`)::

    python -m entropy_attention_jax data build wide_table --data-dir DIR --file traffic.csv

Default split 7:1:2 (the common choice for generic series, as for METR-LA).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

import tensorflow_datasets as tfds

from entropy_attention_jax.data.builders.base import BuilderOption, SeriesBuilder, series_blocks
from entropy_attention_jax.data.errors import DataError, MissingFileError
from entropy_attention_jax.data.readers import read_wide_table, wide_table_format


@dataclasses.dataclass(eq=False)
class WideTableConfig(tfds.core.BuilderConfig):
  """The table file (absolute path) and its timestamp column."""

  file: str | None = None
  timestamp_column: str | None = None


def table_config_name(file: str | pathlib.Path) -> str:
  """Config name of a table file: its lower-cased stem, `[a-z0-9_]` only."""
  stem = pathlib.Path(file).name.lower()
  stem = re.sub(r"\.(csv\.gz|csv|parquet|pq)$", "", stem)
  return re.sub(r"[^a-z0-9_]+", "_", stem).strip("_") or "table"


class WideTable(SeriesBuilder):
  """A user's CSV/Parquet table: timestamp column + one column per node."""

  name = "wide_table"
  DESCRIPTION = "A user-provided wide table: one timestamp column, one column per node."
  DEFAULT_SPLIT_RATIOS = (0.7, 0.1, 0.2)
  OPTIONS = (
      BuilderOption("file", str, None, "the CSV/Parquet table (wide_table)"),
      BuilderOption(
          "timestamp_column", str, None, "name of the time column (wide_table; default: first)"
      ),
  )

  @classmethod
  def make_config(cls, *, file: str | None = None, timestamp_column: str | None = None):
    if file is None:
      raise DataError(
          "wide_table needs the table file: --file PATH (file=...), a .csv,"
          " .csv.gz, .parquet or .pq table with a timestamp column and one"
          " column per node."
      )
    wide_table_format(file)  # Fail early on an unknown suffix.
    path = pathlib.Path(file).expanduser().resolve()
    return WideTableConfig(
        name=table_config_name(path), file=str(path), timestamp_column=timestamp_column
    )

  def source_file(self, manual_dir: str | pathlib.Path | None) -> pathlib.Path:
    del manual_dir  # The file is named in the config.
    path = pathlib.Path(self.builder_config.file)
    if not path.is_file():
      raise MissingFileError(f"wide_table: the table file {str(path)!r} does not exist.")
    return path

  def _series_blocks(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # The file is named in the config.
    config = self.builder_config
    path = self.source_file(None)
    series = read_wide_table(
        path,
        name=self.name,
        timestamp_column=config.timestamp_column,
        default_split_ratios=self.DEFAULT_SPLIT_RATIOS,
        description=f"{self.DESCRIPTION} Source: {path.name}.",
    )
    return series_blocks(
        series, path, source_file=str(path), timestamp_column=config.timestamp_column
    )
