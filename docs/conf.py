"""Sphinx configuration of the API reference (`make docs` writes build/docs/).

The reference is rendered from the docstrings (Google style, read by
napoleon); the Markdown pages of this folder are read by MyST. The build runs
with warnings as errors (`-W`), so a broken reference or docstring fails it.
"""

import pathlib
import sys

# Document the checkout this file is in, not whichever copy is installed.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import entropy_attention_jax  # pylint: disable=wrong-import-position

project = "entropy_attention_jax"
release = version = entropy_attention_jax.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Docstrings are Google style (Args/Returns/Raises); `code` in single
# backticks is code, as in the Markdown pages.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Attributes sections as fields: autodoc already documents the members.
napoleon_use_ivar = True
default_role = "code"
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
# Headings of the Markdown pages get anchors, so `page.md#section` links resolve.
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"entropy_attention_jax {version}"
