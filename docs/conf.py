"""Sphinx configuration of deepae's documentation site (``make docs``).

The API reference (``api.rst``) is written here from ``deepae.__all__`` by
``_ext/apiref.py`` before every build; the examples gallery runs the scripts in
``../examples`` (sphinx-gallery) into ``auto_examples/``; MathJax is served from the build
itself (sphinx-mathjax-offline), so the site needs no network.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import apiref  # noqa: E402

import deepae  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the examples' timings, on a shared machine
apiref.write_reference(HERE / "api.rst")

project = "deepae"
author = "deepae developers"
copyright = "deepae developers"  # noqa: A001
release = version = deepae.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json"]
default_role = "literal"

autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "inherited-members": True}  # see skip_foreign_member
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"deepae {release}"
html_theme_options = {
    "logo": {"text": "deepae"},
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}  # else the theme logs "invalid theme mode"
html_sidebars = {"index": []}
html_static_path = ["_static"]
html_extra_path = ["_extra"]  # favicon.ico at the root, which browsers ask for
html_favicon = "_static/favicon.svg"
html_logo = "_static/favicon.svg"
html_show_sourcelink = False

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "write_computation_times": False,  # its page loads jQuery from a CDN
    "plot_gallery": "True",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("deepae",),
}


def skip_foreign_member(app, what, name, obj, skip, options):
    """Leave out class members that deepae did not write (scikit-learn's ``set_output``,
    ``get_metadata_routing``, ...: their docstrings point into scikit-learn's own site)."""
    if what != "class" or skip:
        return skip
    target = getattr(obj, "fget", obj)
    module = getattr(target, "__module__", None) or ""
    return None if module.startswith("deepae") else True


def setup(app):
    """Connect :func:`skip_foreign_member`."""
    app.connect("autodoc-skip-member", skip_foreign_member)
