"""The exploration notebook runs top to bottom (so it never rots)."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path):
  notebook = nbformat.read(path, as_version=4)
  client = NotebookClient(
      notebook, timeout=600, kernel_name="python3",
      resources={"metadata": {"path": str(tmp_path)}},
  )
  client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
  code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
  assert all(cell.execution_count for cell in code_cells)


def test_there_is_a_notebook():
  assert NOTEBOOKS, "notebooks/ holds no .ipynb"
