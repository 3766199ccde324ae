"""Executes the notebooks top to bottom and saves the executed copies.

  python experiments/run_notebooks.py [--out results/notebooks]
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="results/notebooks")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  for path in sorted(NOTEBOOKS.glob("*.ipynb")):
    start = time.time()
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as scratch:
      NotebookClient(notebook, timeout=900, kernel_name="python3",
                     resources={"metadata": {"path": scratch}}).execute()
    nbformat.write(notebook, out / path.name)
    print(f"executed {path.name} in {time.time() - start:.0f} s -> {out / path.name}")


if __name__ == "__main__":
  main()
