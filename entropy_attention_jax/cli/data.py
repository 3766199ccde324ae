"""`data build` and `data info`: build datasets and show what was built.

    python -m entropy_attention_jax data build NAME --data-dir DIR [--manual-dir M] [options]
    python -m entropy_attention_jax data info NAME --data-dir DIR [options]

Options select a dataset's config: `--nodes/--days/--seed` (synthetic_traffic;
lagged_network also `--parents/--max-delay`),
`--file/--timestamp-column/--missing-value/--covariates/--known-future/--timezone`
(wide_table). Bad input (unknown name, missing manual file, bad values, a
series too short for one window in each split) prints one `error:` line to
stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
  from entropy_attention_jax.data import SeriesInfo

# Dataset names and options as flags: (name, type, help). They must match the
# registry and the builders' `OPTIONS` (tests check it); listed here so that
# `--help` does not import the data layer.
DATASET_NAMES: tuple[str, ...] = (
    "synthetic_traffic", "chicago_ridership", "pems03", "pems04", "pems07", "pems08",
    "metr_la", "pems_bay", "wide_table", "lagged_network",
)
DATASET_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("nodes", int, "synthetic_traffic, lagged_network: number of nodes (default 20, 64)"),
    ("days", int, "synthetic_traffic, lagged_network: days of 5-minute steps (default 14, 7)"),
    ("seed", int, "synthetic_traffic, lagged_network: random seed (default 0)"),
    ("parents", int, "lagged_network: parents per node (default 2)"),
    ("max_delay", int, "lagged_network: largest parent delay in steps (default 6)"),
    ("codes", int, "lagged_network: code channels per node, own and parents' (default 0)"),
    ("file", str, "wide_table: the CSV/Parquet table (timestamp column + one column per node)"),
    ("timestamp_column", str, "wide_table: name of the time column (default: the first)"),
    ("missing_value", float,
     "wide_table: a value that also marks missing cells, e.g. 0 (default: only empty/NaN cells)"),
    ("covariates", str, "wide_table: comma-separated observed covariate columns (inputs only)"),
    ("known_future", str,
     "wide_table: comma-separated known-future covariate columns (e.g. a holiday flag)"),
    ("timezone", str, "wide_table: IANA time zone of the timestamps (default: as written)"),
)


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("name", metavar="NAME", help="dataset: " + ", ".join(DATASET_NAMES))
  parser.add_argument("--data-dir", required=True, help="directory datasets are built into")
  group = parser.add_argument_group("dataset options")
  for name, kind, help_text in DATASET_FLAGS:
    flag = "--" + name.replace("_", "-")
    group.add_argument(flag, dest=name, type=kind, default=None, help=help_text)


def _add_window_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      "--in-steps", type=int, default=None,
      help="input steps per window (default: the frequency's, e.g. 12 for 5-minute data)",
  )
  parser.add_argument(
      "--out-steps", type=int, default=None, help="predicted steps per window (default: likewise)"
  )


def _dataset_options(args: argparse.Namespace) -> dict[str, Any]:
  options = {name: getattr(args, name) for name, _, _ in DATASET_FLAGS}
  return {name: value for name, value in options.items() if value is not None}


def register(subparsers: argparse._SubParsersAction) -> None:
  """Adds `data build` and `data info`."""
  data = subparsers.add_parser("data", help="build and inspect datasets")
  actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

  build = actions.add_parser("build", help="build a dataset into --data-dir (array_record)")
  _add_dataset_arguments(build)
  build.add_argument(
      "--manual-dir", default=None,
      help="folder holding the files you provide (default: DATA_DIR/downloads/manual)",
  )
  build.add_argument(
      "--overwrite", action="store_true",
      help="rebuild even if built (needed when the source file changed)",
  )
  _add_window_arguments(build)
  build.set_defaults(func=build_command)

  info = actions.add_parser("info", help="show steps, nodes, channels and split sizes")
  _add_dataset_arguments(info)
  _add_window_arguments(info)
  info.add_argument(
      "--split-ratios", default=None,
      help="train,val,test fractions, e.g. 0.6,0.2,0.2 (default: the dataset's)",
  )
  info.set_defaults(func=info_command)


def describe(
    info: SeriesInfo,
    in_steps: int | None = None,
    out_steps: int | None = None,
    split_ratios: tuple[float, ...] | None = None,
) -> str:
  """Plain-text summary of a built dataset and its splits (a Markdown table)."""
  from entropy_attention_jax import data  # pylint: disable=g-import-not-at-top

  config = f" ({info.config_name})" if info.config_name else ""
  default_in, default_out = data.registry.dataset_window(info)
  in_steps, out_steps = in_steps or default_in, out_steps or default_out
  readings = max(info.observed_steps * info.num_nodes, 1)
  lines = [
      f"{info.name}{config}",
      f"  path      {info.data_path}",
      f"  steps     {info.num_steps} ({info.grid.describe()}"
      + (f", {info.steps_per_day} per day" if info.grid.sub_daily else "")
      + f"), {info.grid.format([0])[0]} .. {info.grid.format([info.num_steps - 1])[0]}",
      f"  nodes     {info.num_nodes}",
      f"  channels  {info.num_channels}: {', '.join(info.channel_names)}"
      f" (target: {info.channel_names[0]})",
  ]
  if info.covariate_names:
    known = set(info.known_future)
    lines.append(
        "  covariates " + ", ".join(
            f"{c} ({'known future' if c in known else 'observed'})" for c in info.covariate_names
        )
    )
  if info.future_steps:
    lines.append(f"  future    {info.future_steps} trailing step(s) with covariates only")
  nans, zeros = info.extra.get("nan_readings"), info.extra.get("zero_readings")
  if nans is not None:
    shares = ", ".join(
        f"{name} {count} ({100 * count / readings:.2f}%)"
        for name, count in zip(info.channel_names, nans)
    )
    lines.append(f"  missing   {shares} empty/NaN (masked from loss and metrics)")
  if zeros is not None:
    shares = ", ".join(
        f"{name} {count} ({100 * count / readings:.2f}%)"
        for name, count in zip(info.channel_names, zeros)
    )
    what = ("missing readings: masked" if info.missing_value == 0
            else "real values: kept in loss and metrics, left out of MAPE")
    lines.append(f"  zeros     {shares} ({what})")
  ratios = info.default_split_ratios if split_ratios is None else split_ratios
  try:
    windows = data.split_windows(info.observed_steps, in_steps, out_steps, ratios)
  except data.DataError as e:
    lines.append(f"  splits    none: {e}")
    return "\n".join(lines)
  lines += [
      f"  splits    {in_steps} -> {out_steps} steps, ratios"
      f" {' / '.join(f'{r:g}' for r in ratios)}, periods start at steps 0, {windows.boundaries[0]},"
      f" {windows.boundaries[1]}",
      "",
      "| split | windows | first target step | last target step |",
      "|-------|--------:|------------------:|-----------------:|",
  ]
  for name, starts in zip(("train", "val", "test"), windows[:3]):
    if len(starts):
      first, last = starts[0] + in_steps, starts[-1] + in_steps + out_steps - 1
      lines.append(f"| {name} | {len(starts)} | {first} | {last} |")
    else:
      lines.append(f"| {name} | 0 | - | - |")
  return "\n".join(lines)


def _parse_ratios(text: str | None) -> tuple[float, ...] | None:
  if text is None:
    return None
  from entropy_attention_jax.data import DataError  # pylint: disable=g-import-not-at-top

  try:
    return tuple(float(part) for part in text.split(","))
  except ValueError:
    raise DataError(
        f"--split-ratios must be three comma-separated numbers, got {text!r}."
    ) from None


def build_command(args: argparse.Namespace) -> int:
  from entropy_attention_jax import data  # pylint: disable=g-import-not-at-top

  try:
    info = data.build_dataset(
        args.name, args.data_dir, args.manual_dir, overwrite=args.overwrite,
        in_steps=args.in_steps, out_steps=args.out_steps, **_dataset_options(args),
    )
  except data.DataError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"built {info.name} in {info.data_path}")
  print(describe(info, args.in_steps, args.out_steps))
  return 0


def info_command(args: argparse.Namespace) -> int:
  from entropy_attention_jax import data  # pylint: disable=g-import-not-at-top

  try:
    ratios = _parse_ratios(args.split_ratios)
    info = data.dataset_info(args.name, args.data_dir, **_dataset_options(args))
  except data.DataError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(describe(info, args.in_steps, args.out_steps, ratios))
  try:  # The facts are shown either way; unusable window settings fail the command.
    data.registry.check_windows(info, args.in_steps, args.out_steps, ratios)
  except data.DataError:
    return 1
  return 0
