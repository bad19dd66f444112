"""The documentation site's sources, without Sphinx: the API reference covers every public
name, and the site checker (``docs/check_site.py``) finds broken links, images and console
errors (in headless Chromium, when it is installed)."""

import importlib.util
import inspect
import re
import shutil
import sys
from pathlib import Path

import pytest

import deepae

DOCS = Path(__file__).resolve().parent.parent / "docs"


def load(path: Path):
    """Import the module at ``path`` (the docs folder is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


apiref = load(DOCS / "_ext" / "apiref.py")
check_site = load(DOCS / "check_site.py")


def autosummary_entries(rst: str) -> dict[str, list[str]]:
    """Section title → the names listed in its ``autosummary`` directive, read from reST."""
    entries, title, in_table = {}, None, False
    lines = rst.splitlines()
    for line, below in zip(lines, [*lines[1:], ""], strict=True):
        if below and set(below) == {"-"} and len(below) == len(line):
            title, in_table = line, False
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and re.fullmatch(r"   [A-Za-z_]\w*", line):
            entries.setdefault(title, []).append(line.strip())
    return entries


def test_every_public_name_is_in_the_api_reference():
    entries = autosummary_entries(apiref.reference_rst())
    listed = [name for names in entries.values() for name in names]
    assert sorted(listed) == sorted(deepae.__all__)
    assert entries["Data"] == ["__version__"]
    for name in entries["Estimators"]:
        assert inspect.isclass(getattr(deepae, name)), name
    for name in entries["Functions"]:
        assert inspect.isfunction(getattr(deepae, name)), name
    assert entries["Modules"] == ["distributed"]


def test_the_command_line_is_documented_from_its_parser():
    rst = apiref.reference_rst()
    assert ".. argparse::\n   :module: deepae.cli\n   :func: build_parser\n   :prog: deepae" in rst
    from deepae.cli import build_parser

    assert build_parser().prog == "deepae"


def test_a_public_name_of_unknown_kind_is_an_error(monkeypatch):
    monkeypatch.setattr(deepae, "SOME_CONSTANT", 3, raising=False)
    monkeypatch.setattr(deepae, "__all__", [*deepae.__all__, "SOME_CONSTANT"])
    with pytest.raises(TypeError, match=r"deepae.SOME_CONSTANT is a int: give it a section"):
        apiref.api_sections()


def test_the_reference_file_is_rewritten_only_when_it_changes(tmp_path):
    path = tmp_path / "api.rst"
    apiref.write_reference(path)
    assert path.read_text() == apiref.reference_rst()
    path.touch()
    before = path.stat().st_mtime_ns
    apiref.write_reference(path)
    assert path.stat().st_mtime_ns == before


def write_site(root: Path) -> None:
    """A three-page site with every kind of link problem, and a PNG image."""
    (root / "sub").mkdir(parents=True)
    shutil.copy(DOCS / "_extra" / "favicon.ico", root / "favicon.ico")
    (root / "dot.png").write_bytes(PNG)
    (root / "index.html").write_text(
        '<html><body><h1 id="top">Home</h1>'
        '<a href="sub/page.html#here">ok</a> <a href="#top">ok</a> <a href="sub/">ok</a>'
        '<a href="https://example.org/x">external</a> <a href="mailto:a@b.c">mail</a>'
        '<a href="missing.html">broken</a> <a href="sub/page.html#gone">broken anchor</a>'
        '<img src="dot.png"> <img src="nowhere.png"> <a href="../outside.html">out</a>'
        "</body></html>")
    (root / "sub" / "page.html").write_text(
        '<html><body><p id="here">x</p><img src="../dot.png"></body></html>')
    (root / "sub" / "index.html").write_text(
        "<html><body><script>console.error('boom'); undefined_function();</script>"
        "</body></html>")


#: A valid 1 × 1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc000000301010018dd8db40000000049454e44ae426082")


def test_broken_links_are_found(tmp_path):
    write_site(tmp_path)
    assert check_site.broken_links(tmp_path) == [
        "index.html: missing.html (no such file)",
        "index.html: sub/page.html#gone (no such anchor)",
        "index.html: nowhere.png (no such file)",
        "index.html: ../outside.html (outside the site)",
    ]
    assert [p.relative_to(tmp_path).as_posix() for p in check_site.html_pages(tmp_path)] == [
        "index.html", "sub/index.html", "sub/page.html"]


BROWSER = check_site.find_chromium()


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here: make browser "
                    "(apt-get install chromium) to check pages in a real browser")
def test_the_browser_reports_console_errors_and_broken_images(tmp_path):
    site = tmp_path / "site"
    write_site(site)
    shot = tmp_path / "home.png"
    problems = check_site.check_in_browser(site, BROWSER, {"index.html": (shot, "#top")})
    assert sorted(problems) == ["index.html", "sub/index.html"]  # sub/page.html is clean
    home = [re.sub(r"http://127\.0\.0\.1:\d+/", "/", p) for p in problems["index.html"]]
    assert home[:2] == ["broken image /nowhere.png", "HTTP 404: /nowhere.png"]  # dot.png: fine
    assert all("nowhere.png" in p for p in home)
    script = problems["sub/index.html"]
    assert len(script) == 2 and script[0] == "console.error: boom"
    assert script[1].startswith("uncaught exception: ReferenceError: undefined_function")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
