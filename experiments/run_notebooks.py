"""Executes the notebooks top to bottom and saves the executed copies.

  python experiments/run_notebooks.py [--out results/notebooks] [--quick]

The notebooks are CPU-sized already; `--quick` runs them the same way (it is
accepted so every experiment takes it). A cell that fails, or one left
unexecuted, is an error.
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
  parser.add_argument("--quick", action="store_true", help="the same run (the notebooks are small)")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  for path in sorted(NOTEBOOKS.glob("*.ipynb")):
    start = time.time()
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as scratch:
      NotebookClient(notebook, timeout=900, kernel_name="python3",
                     resources={"metadata": {"path": scratch}}).execute()
    unexecuted = [i for i, cell in enumerate(notebook.cells)
                  if cell.cell_type == "code" and not cell.execution_count]
    if unexecuted:
      raise SystemExit(f"error: {path.name}: code cells {unexecuted} did not execute")
    nbformat.write(notebook, out / path.name)
    print(f"executed {path.name} in {time.time() - start:.0f} s -> {out / path.name}")


if __name__ == "__main__":
  main()
