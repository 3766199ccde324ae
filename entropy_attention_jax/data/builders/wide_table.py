"""`wide_table`: anyone's own data, a CSV or Parquet table of one series.

One row per time step; one timestamp column (the first, unless named with
`timestamp_column`) and one numeric column per node, on a regular grid: any
fixed step (minutes, hours, days, weeks) or calendar months, quarters, years
(see `calendar.py`; tz-aware timestamps keep their local wall clock). Empty
cells and NaN are missing values (masked from the loss and the metrics);
zeros are real values unless `missing_value=0` says otherwise.

Covariates are columns that are inputs only, never forecast or scored:
`covariates` are observed up to the forecast origin (a temperature),
`known_future` are known over the forecast horizon too (a working-day flag,
holidays). Rows at the end whose node cells are all empty are the steps to
forecast: they carry the known-future values there.

Each file is its own builder config, named after the file (`traffic.csv` ->
`wide_table/traffic`)::

    python -m entropy_attention_jax data build wide_table --data-dir DIR --file load.csv \
        --covariates temperature --known-future working_day

Default split 7:1:2 (the common choice for generic series, as for METR-LA).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Sequence

import tensorflow_datasets as tfds

from entropy_attention_jax.data.builders.base import BuilderOption, SeriesBuilder, series_blocks
from entropy_attention_jax.data.errors import DataError, MissingFileError
from entropy_attention_jax.data.readers import read_wide_table, wide_table_format
from entropy_attention_jax.data.series import Series


class ColumnNames(str):
  """Comma-separated column names, from text (``"a,b"``) or a sequence of names."""

  def __new__(cls, value: str | Sequence[str]):
    parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return super().__new__(cls, ",".join(p.strip() for p in parts if p.strip()))

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(self.split(",")) if self else ()


@dataclasses.dataclass(eq=False)
class WideTableConfig(tfds.core.BuilderConfig):
  """The table file (absolute path), its timestamp column and how to read it."""

  file: str | None = None
  timestamp_column: str | None = None
  missing_value: float | None = None
  covariates: str = ""
  known_future: str = ""
  timezone: str | None = None

  def read_options(self) -> dict:
    """The options that decide what is read (stored with a build, checked on reuse)."""
    return {
        "timestamp_column": self.timestamp_column, "missing_value": self.missing_value,
        "covariates": self.covariates, "known_future": self.known_future,
        "timezone": self.timezone,
    }


def table_config_name(file: str | pathlib.Path) -> str:
  """Config name of a table file: its lower-cased stem, `[a-z0-9_]` only."""
  stem = pathlib.Path(file).name.lower()
  stem = re.sub(r"\.(csv\.gz|csv|parquet|pq)$", "", stem)
  return re.sub(r"[^a-z0-9_]+", "_", stem).strip("_") or "table"


class WideTable(SeriesBuilder):
  """A user's CSV/Parquet table: timestamp column + one column per node (+ covariates)."""

  name = "wide_table"
  DESCRIPTION = "A user-provided wide table: one timestamp column, one column per node."
  DEFAULT_SPLIT_RATIOS = (0.7, 0.1, 0.2)
  OPTIONS = (
      BuilderOption("file", str, None, "the CSV/Parquet table (wide_table)"),
      BuilderOption(
          "timestamp_column", str, None, "name of the time column (wide_table; default: first)"
      ),
      BuilderOption(
          "missing_value", float, None,
          "wide_table: a value that also marks missing cells, e.g. 0 (default: only empty/NaN)",
      ),
      BuilderOption(
          "covariates", ColumnNames, None,
          "wide_table: comma-separated observed covariate columns (inputs only)",
      ),
      BuilderOption(
          "known_future", ColumnNames, None,
          "wide_table: comma-separated known-future covariate columns (inputs over the"
          " horizon too)",
      ),
      BuilderOption(
          "timezone", str, None,
          "wide_table: IANA time zone of the timestamps, e.g. Europe/Berlin (default: as"
          " written)",
      ),
  )

  @classmethod
  def make_config(
      cls, *, file: str | None = None, timestamp_column: str | None = None,
      missing_value: float | None = None, covariates: str | Sequence[str] = "",
      known_future: str | Sequence[str] = "", timezone: str | None = None,
  ):
    if file is None:
      raise DataError(
          "wide_table needs the table file: --file PATH (file=...), a .csv,"
          " .csv.gz, .parquet or .pq table with a timestamp column and one"
          " column per node."
      )
    wide_table_format(file)  # Fail early on an unknown suffix.
    path = pathlib.Path(file).expanduser().resolve()
    covariates, known_future = ColumnNames(covariates or ""), ColumnNames(known_future or "")
    overlap = sorted(set(covariates.names) & set(known_future.names))
    if overlap:
      raise DataError(
          f"wide_table: {overlap} are named both as covariates and as known-future ones;"
          " name each once (known-future covariates are covariates too)."
      )
    return WideTableConfig(
        name=table_config_name(path), file=str(path), timestamp_column=timestamp_column,
        missing_value=missing_value, covariates=str(covariates),
        known_future=str(known_future), timezone=timezone,
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
    series = _read(config)
    return series_blocks(series, path, source_file=str(path), read_options=config.read_options())


def _read(config: WideTableConfig) -> Series:
  path = pathlib.Path(config.file)
  return read_wide_table(
      path,
      name=WideTable.name,
      timestamp_column=config.timestamp_column,
      default_split_ratios=WideTable.DEFAULT_SPLIT_RATIOS,
      description=f"{WideTable.DESCRIPTION} Source: {path.name}.",
      missing_value=config.missing_value,
      covariates=ColumnNames(config.covariates).names,
      known_future=ColumnNames(config.known_future).names,
      timezone=config.timezone,
  )


def read_table(file: str | pathlib.Path, **options) -> Series:
  """Reads a wide table as `wide_table` would build it, without building.

  Args:
    file: the CSV/Parquet table.
    **options: the other `wide_table` options (`timestamp_column`,
      `missing_value`, `covariates`, `known_future`, `timezone`); a `file`
      among them is ignored, so a run's stored options can be passed as they are.

  Raises:
    MissingFileError, DataError: as building would.
  """
  options = {k: v for k, v in options.items() if k != "file" and v is not None}
  config = WideTable.make_config(file=str(file), **options)
  if not pathlib.Path(config.file).is_file():
    raise MissingFileError(f"wide_table: the table file {config.file!r} does not exist.")
  return _read(config)
