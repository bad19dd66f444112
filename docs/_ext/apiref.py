"""The API reference page, written from ``deepae.__all__`` so that new public names appear
without edits.

:func:`api_sections` sorts the public names into errors, data sources, estimators,
functions, modules and data (the version string);
:func:`reference_rst` turns them into the reST of ``api.rst`` (autosummary tables, whose
stub pages Sphinx generates, and the command line documented from
:func:`deepae.cli.build_parser` by sphinx-argparse). ``docs/conf.py`` writes the page before
each build, and ``tests/test_docs.py`` checks the same function's output against
``deepae.__all__`` without Sphinx. Nothing here imports Sphinx.
"""

import inspect
from pathlib import Path

import deepae

#: Section title → what its entries are: the test that picks them and the intro line.
KINDS = {
    "Errors": (lambda value: inspect.isclass(value) and issubclass(value, BaseException),
               "Errors raised by the library besides Python's own."),
    "Data sources": (lambda value: inspect.isclass(value) and not hasattr(value, "fit"),
                     "Data larger than memory, read a chunk at a time by ``fit``."),
    "Estimators": (inspect.isclass, "scikit-learn estimators: fit, then transform, predict "
                   "or score; every one saves with ``model.save(path)``."),
    "Functions": (inspect.isfunction, "Loading model files and writing reports."),
    "Modules": (inspect.ismodule, "Helpers for many processes (``torchrun``)."),
    "Data": (lambda value: isinstance(value, str), "The installed version."),
}


def api_sections() -> dict[str, list[str]]:
    """Section title → the public names of that kind, sorted; raises ``TypeError`` for a
    public name of no known kind (so that it cannot silently go missing)."""
    sections = {title: [] for title in KINDS}
    for name in deepae.__all__:
        value = getattr(deepae, name)
        title = next((t for t, (test, _) in KINDS.items() if test(value)), None)
        if title is None:
            raise TypeError(f"deepae.{name} is a {type(value).__name__}: give it a section in "
                            f"docs/_ext/apiref.py")
        sections[title].append(name)
    return {title: sorted(names) for title, names in sections.items() if names}


def autosummary(names: list[str], template: str | None) -> list[str]:
    """An ``autosummary`` directive over ``names`` (stub pages under ``generated/``)."""
    lines = [".. autosummary::", "   :toctree: generated/", "   :nosignatures:"]
    if template:
        lines.append(f"   :template: {template}")
    return lines + [""] + [f"   {name}" for name in names] + [""]


def reference_rst() -> str:
    """The reST of the API reference: one autosummary table per kind, then the CLI."""
    lines = [".. This page is written by docs/_ext/apiref.py at every build: edit that file.",
             "", ".. _api:", "", "API reference", "=============", "",
             "Every public name of :mod:`deepae` (``deepae.__all__``), then the command line.",
             "", ".. currentmodule:: deepae", ""]
    templates = {"Errors": "class.rst", "Data sources": "class.rst", "Estimators": "class.rst",
                 "Functions": "function.rst", "Modules": "module.rst", "Data": "data.rst"}
    for title, names in api_sections().items():
        lines += [title, "-" * len(title), "", KINDS[title][1], ""]
        lines += autosummary(names, templates.get(title))
    lines += ["Command line", "------------", "",
              "Generated from the parser in :func:`deepae.cli.build_parser`, the one the "
              "``deepae`` command runs.", "",
              ".. argparse::", "   :module: deepae.cli", "   :func: build_parser",
              "   :prog: deepae", ""]
    return "\n".join(lines)


def write_reference(path: Path) -> None:
    """Write :func:`reference_rst` to ``path`` unless it already holds it (an unchanged file
    keeps Sphinx's incremental build)."""
    text = reference_rst()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
