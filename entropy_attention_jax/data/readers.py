"""Readers for the benchmark file formats, each returning a checked `Series`.

- PeMS npz (PEMS03/04/07/08): `np.savez` archive, key `data`, `[T, N, C]`,
  no timestamps (their start dates are known facts, passed in).
- METR-LA / PEMS-BAY HDF5: a pandas HDFStore holding one DataFrame with a
  regular `DatetimeIndex` (rows = steps) and one column per sensor id.
- Wide tables (CSV or Parquet): one timestamp column and one numeric column per
  node, one row per step.

Readers never fill, drop or reorder values: a bad file fails with a message that
names the file and the position at fault.
"""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Sequence

import numpy as np

from entropy_attention_jax._optional import require
from entropy_attention_jax.data.calendar import parse_time_grid
from entropy_attention_jax.data.errors import DataError, MissingFileError
from entropy_attention_jax.data.series import Series, SeriesInfo

WIDE_TABLE_SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet",
}


def file_sha256(path: str | pathlib.Path) -> str:
  """Hex SHA-256 digest of a file (recorded as the provenance of a build)."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _require_file(path: pathlib.Path, what: str) -> None:
  if not path.is_file():
    raise MissingFileError(f"{what}: file {str(path)!r} does not exist.")


def read_npz_series(
    path: str | pathlib.Path,
    *,
    name: str,
    start: str | np.datetime64,
    step_seconds: int,
    channel_names: Sequence[str],
    default_split_ratios: Sequence[float],
    num_nodes: int | None = None,
    description: str = "",
    missing_value: float | None = 0.0,
) -> Series:
  """Reads a PeMS-style `data.npz` (`data`: `[steps, nodes, channels]`).

  Args:
    path: the `.npz` file.
    name: dataset name, for messages and the returned info.
    start: time of step 0 (the file has no timestamps).
    step_seconds: seconds between steps (300 for PeMS).
    channel_names: expected channels, in order; the file must have exactly these.
    default_split_ratios: `(train, val, test)` fractions for the info.
    num_nodes: expected node count; `None` accepts any.
    description: provenance for the info.
    missing_value: the value that marks missing readings (PeMS: 0).

  Returns:
    The series; node ids are the column indices `"0" ... "N-1"`.

  Raises:
    MissingFileError: no such file.
    DataError: no `data` key, wrong rank, node or channel count, non-numeric or
      non-finite values.
  """
  path = pathlib.Path(path)
  _require_file(path, name)
  try:
    archive = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise DataError(f"{name}: {str(path)!r} is not a readable .npz archive ({e}).") from None
  with archive:
    if "data" not in archive.files:
      raise DataError(
          f"{name}: {str(path)!r} has no array named 'data' (it has {archive.files});"
          " PeMS files store the series as data=[steps, nodes, channels]."
      )
    values = archive["data"]
  if values.ndim != 3:
    raise DataError(
        f"{name}: 'data' in {str(path)!r} must be [steps, nodes, channels], got"
        f" shape {values.shape}."
    )
  if num_nodes is not None and values.shape[1] != num_nodes:
    raise DataError(
        f"{name}: 'data' in {str(path)!r} has {values.shape[1]} nodes (shape"
        f" {values.shape}); {name} has {num_nodes} sensors."
    )
  if values.shape[2] != len(channel_names):
    raise DataError(
        f"{name}: 'data' in {str(path)!r} has {values.shape[2]} channels (shape"
        f" {values.shape}); {name} has {len(channel_names)}: {list(channel_names)}."
    )
  if not np.issubdtype(values.dtype, np.number):
    raise DataError(f"{name}: 'data' in {str(path)!r} has non-numeric dtype {values.dtype}.")
  info = SeriesInfo(
      name=name,
      start=np.datetime64(start, "s"),
      step_seconds=step_seconds,
      num_steps=values.shape[0],
      channel_names=tuple(channel_names),
      node_ids=tuple(str(i) for i in range(values.shape[1])),
      default_split_ratios=tuple(default_split_ratios),
      description=description,
      missing_value=missing_value,
  )
  return Series(values.astype(np.float32, copy=False), info)


def _numeric_columns(frame, source: str) -> None:
  import pandas as pd  # pylint: disable=g-import-not-at-top

  for column in frame.columns:
    if not (pd.api.types.is_numeric_dtype(frame[column]) or frame[column].isna().all()):
      parsed = pd.to_numeric(frame[column], errors="coerce")
      row = int(np.flatnonzero(parsed.isna() & frame[column].notna())[0])
      raise DataError(
          f"{source}: column {str(column)!r} is not numeric; row {row} holds"
          f" {frame[column].iloc[row]!r}."
      )


def _frame_to_series(frame, *, name: str, source: str, channel_name: str,
                     default_split_ratios: Sequence[float], description: str,
                     timestamps, num_nodes: int | None = None,
                     missing_value: float | None = None,
                     covariates: Sequence[str] = (), known_future: Sequence[str] = (),
                     timezone: str | None = None) -> Series:
  """Checks a `[steps, columns]` DataFrame of numeric columns; builds a Series.

  `covariates` (and their subset `known_future`) are columns that become
  `Series.covariates`; the others are the nodes. Trailing rows where every
  node is missing are the series' `future_steps`.
  """
  unknown = [c for c in (*covariates, *known_future) if c not in frame.columns]
  if unknown:
    raise DataError(
        f"{source}: no column {unknown[0]!r} (named as a covariate); its columns are"
        f" {[str(c) for c in frame.columns[:20]]}{' ...' if frame.shape[1] > 20 else ''}."
    )
  covariates = list(dict.fromkeys([*covariates, *known_future]))
  nodes = frame.drop(columns=covariates)
  if nodes.shape[1] == 0:
    raise DataError(f"{source}: has no node columns (every column is a covariate).")
  if num_nodes is not None and nodes.shape[1] != num_nodes:
    raise DataError(
        f"{source}: has {nodes.shape[1]} sensor columns; {name} has {num_nodes}."
    )
  # The time grid first: a wrong time column (an integer id first) then says
  # "timestamp", and `read_wide_table` can point at the right one.
  grid = parse_time_grid(timestamps, source, timezone=timezone)
  _numeric_columns(frame, source)
  values = nodes.to_numpy(dtype=np.float32, na_value=np.nan)[:, :, None]
  missing = np.isnan(values[:, :, 0])
  if missing_value is not None:
    missing |= values[:, :, 0] == missing_value
  observed_rows = np.flatnonzero(~missing.all(axis=1))
  if observed_rows.size == 0:
    raise DataError(f"{source}: every value of every node column is missing.")
  future_steps = frame.shape[0] - 1 - int(observed_rows[-1])
  info = SeriesInfo(
      name=name,
      start=grid.start,
      step_seconds=grid.step_seconds,
      frequency=grid.frequency,
      timezone=grid.timezone,
      utc_offsets=grid.utc_offsets,
      num_steps=frame.shape[0],
      channel_names=(channel_name,),
      node_ids=tuple(str(c) for c in nodes.columns),
      default_split_ratios=tuple(default_split_ratios),
      description=description,
      missing_value=missing_value,
      covariate_names=tuple(str(c) for c in covariates),
      known_future=tuple(str(c) for c in known_future),
      future_steps=future_steps,
  )
  covariate_values = frame[covariates].to_numpy(dtype=np.float32, na_value=np.nan)
  return Series(values, info, covariate_values.reshape(frame.shape[0], len(covariates)))


def read_hdf_table(
    path: str | pathlib.Path,
    *,
    name: str,
    channel_name: str,
    default_split_ratios: Sequence[float],
    keys: Sequence[str] = (),
    num_nodes: int | None = None,
    description: str = "",
) -> Series:
  """Reads a METR-LA / PEMS-BAY style pandas HDFStore table.

  Args:
    path: the `.h5` file.
    name: dataset name, for messages and the returned info.
    channel_name: name of the single channel (e.g. `"speed"`).
    default_split_ratios: `(train, val, test)` fractions for the info.
    keys: table keys to try, in order (DCRNN's files use `df` for METR-LA and
      `speed` for PEMS-BAY); when none is present the store must hold exactly
      one table, which is read.
    num_nodes: expected sensor count; `None` accepts any.
    description: provenance for the info.

  Returns:
    The series, `[steps, sensors, 1]`, node ids = the column names.

  Raises:
    MissingFileError: no such file.
    DataError: not an HDFStore, no/ambiguous key, not a DataFrame with a
      regular `DatetimeIndex`, non-numeric or non-finite values, wrong size.
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top

  path = pathlib.Path(path)
  _require_file(path, name)
  require("tables", "data", "to read HDF5 tables (METR-LA, PEMS-BAY)")
  try:
    with pd.HDFStore(path, mode="r") as store:
      tables = [k.lstrip("/") for k in store.keys()]
      key = next((k for k in keys if k in tables), None)
      if key is None:
        if len(tables) != 1:
          raise DataError(
              f"{name}: {str(path)!r} holds {len(tables)} tables {tables}; expected"
              f" one of {list(keys)} or exactly one table."
          )
        key = tables[0]
      frame = store[key]
  except DataError:
    raise
  except Exception as e:  # PyTables raises many types for a non-HDF5 file.
    raise DataError(f"{name}: could not read {str(path)!r} as a pandas HDFStore ({e}).") from None
  source = f"{name}: table {key!r} in {str(path)!r}"
  if not isinstance(frame, pd.DataFrame):
    raise DataError(f"{source} is a {type(frame).__name__}, expected a DataFrame.")
  if not isinstance(frame.index, pd.DatetimeIndex):
    raise DataError(
        f"{source} must be indexed by time (a DatetimeIndex), got a"
        f" {type(frame.index).__name__}."
    )
  return _frame_to_series(
      frame, name=name, source=source, channel_name=channel_name,
      default_split_ratios=default_split_ratios, description=description,
      timestamps=frame.index.to_series(), num_nodes=num_nodes, missing_value=0.0,
  )


def wide_table_format(path: str | pathlib.Path) -> str:
  """`"csv"` or `"parquet"` from the file name; raises `DataError` otherwise."""
  lower = str(path).lower()
  for suffix, kind in WIDE_TABLE_SUFFIXES.items():
    if lower.endswith(suffix):
      return kind
  raise DataError(
      f"wide_table: cannot tell the format of {str(path)!r}; use one of"
      f" {sorted(WIDE_TABLE_SUFFIXES)}."
  )


def _guess_time_column(frame, skip) -> str | None:
  """The first column other than `skip` whose first values parse as times."""
  import pandas as pd  # pylint: disable=g-import-not-at-top

  for column in frame.columns:
    if column == skip or pd.api.types.is_numeric_dtype(frame[column]):
      continue
    try:
      pd.to_datetime(frame[column].head(5).astype(str), format="mixed")
    except (TypeError, ValueError):
      continue
    return str(column)
  return None


def read_wide_table(
    path: str | pathlib.Path,
    *,
    name: str = "wide_table",
    timestamp_column: str | None = None,
    channel_name: str = "value",
    default_split_ratios: Sequence[float] = (0.7, 0.1, 0.2),
    description: str = "",
    missing_value: float | None = None,
    covariates: Sequence[str] = (),
    known_future: Sequence[str] = (),
    timezone: str | None = None,
) -> Series:
  """Reads a CSV or Parquet table: a timestamp column plus one column per node.

  Empty cells and NaN are missing values (so are cells equal to
  `missing_value`, if given). Covariate columns are inputs shared by all
  nodes; trailing rows whose node cells are all empty are the steps to
  forecast, holding the known-future covariates.

  Args:
    path: `.csv`, `.csv.gz`, `.parquet` or `.pq` file.
    name: dataset name, for messages and the returned info.
    timestamp_column: the time column; `None` takes the first column.
    channel_name: name of the single channel.
    default_split_ratios: `(train, val, test)` fractions for the info.
    description: provenance for the info.
    missing_value: a value that also marks missing readings (e.g. 0); None:
      only empty cells and NaN do.
    covariates: columns that are observed covariates (inputs only).
    known_future: columns that are known-future covariates (inputs over the
      history and the forecast horizon).
    timezone: IANA time zone to read the timestamps in (see
      `calendar.parse_time_grid`).

  Returns:
    The series `[rows, node columns, 1]`, node ids = the node column names,
    `covariates` `[rows, covariates]`.

  Raises:
    MissingFileError: no such file.
    DataError: unknown suffix, unknown timestamp or covariate column,
      non-numeric columns, infinite or huge values (named by row and column),
      irregular timestamps.
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top

  path = pathlib.Path(path)
  _require_file(path, name)
  kind = wide_table_format(path)
  if kind != "csv":
    require("pyarrow", "data", "to read Parquet tables")
  try:
    frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
  except Exception as e:  # The parsers raise many types.
    raise DataError(f"{name}: could not read {str(path)!r} as {kind} ({e}).") from None
  if frame.shape[1] == 0:
    raise DataError(f"{name}: {str(path)!r} has no columns.")
  named = timestamp_column is not None
  if timestamp_column is None:
    timestamp_column = frame.columns[0]
  elif timestamp_column not in frame.columns:
    raise DataError(
        f"{name}: {str(path)!r} has no column {timestamp_column!r}; its columns are"
        f" {[str(c) for c in frame.columns[:20]]}{' ...' if frame.shape[1] > 20 else ''}."
    )
  source = f"{name}: {str(path)!r}"
  try:
    return _frame_to_series(
        frame.drop(columns=[timestamp_column]), name=name, source=source,
        channel_name=channel_name, default_split_ratios=default_split_ratios,
        description=description, timestamps=frame[timestamp_column],
        missing_value=missing_value, covariates=covariates, known_future=known_future,
        timezone=timezone,
    )
  except DataError as e:
    if named or "timestamp" not in str(e):
      raise
    guess = _guess_time_column(frame, timestamp_column)
    hint = (
        f" Column {guess!r} looks like the time column: pass --timestamp-column {guess}"
        if guess else " Name the time column with --timestamp-column"
    )
    raise DataError(
        f"{e} The first column, {str(timestamp_column)!r}, is taken as the time"
        f" column.{hint} (timestamp_column=)."
    ) from None
