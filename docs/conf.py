"""Sphinx configuration for trionet's documentation.

Build: ``.venv/bin/sphinx-build -W -b html docs docs/_build/html`` (``nox -s docs``).
The build needs no network: intersphinx is only switched on when
``TRIONET_DOCS_INTERSPHINX=1`` is set, because fetching the inventories of
Python, Trio and anyio fails offline and ``-W`` turns that into an error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trionet  # noqa: E402

project = "trionet"
author = "the trionet authors"
copyright = "the trionet authors"
release = trionet.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]

# Pages are reStructuredText; docs/dev/ holds the maintainers' notes (Markdown),
# and docs/examples/ the runnable programs the pages include.
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "dev", "examples", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# Python is the default language of code blocks.
highlight_language = "python3"
pygments_style = "sphinx"

# Cross-references are checked by humans, not by the build (Node names such as
# 'data' or ECONNREFUSED are not Python objects).
nitpicky = False

default_role = "py:obj"

# -- autodoc / napoleon ---------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"exclude-members": "__init__, __new__"}
add_module_names = False

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = ["Resource handling", "Error handling"]

# -- intersphinx (opt-in: it needs the network) ---------------------------------------------

intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
if os.environ.get("TRIONET_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "trio": ("https://trio.readthedocs.io/en/stable", None),
        "anyio": ("https://anyio.readthedocs.io/en/stable", None),
    }

# -- HTML -----------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"trionet {release}"
html_theme_options = {
    "description": "Node.js's net module for Python, on anyio and Trio",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_static_path: list[str] = []
