"""The documentation site (issue 16): what ``make docs`` builds, how long it takes, and how
it looks.

Runs ``docs/build.py``'s steps: a from-scratch ``sphinx-build -W`` (examples gallery
included), then the link check and every page opened in headless Chromium, each timed once
(the build runs the gallery's scripts, so its time moves with the machine's load). Reports
the page count, each example's run time (sphinx-gallery's own record), the problems found
(none is the goal) and copies the two screenshots, reduced to 128 colors, next to this file
as ``docs-home.png`` and ``docs-gallery.png``. Needs the ``docs`` extra (``make docs``
installs it; ``make bench`` too).
"""

import importlib.util
import json
import sys
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
SHOTS = {"home.png": "docs-home.png", "gallery.png": "docs-gallery.png"}


def load_build():
    """``docs/build.py`` as a module (it imports ``check_site`` from its own folder)."""
    sys.path.insert(0, str(DOCS))
    spec = importlib.util.spec_from_file_location("docs_build", DOCS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def example_seconds() -> dict[str, float]:
    """Example script → its run time in the build, from sphinx-gallery's ``.cost.json``."""
    return {path.name.removesuffix(".cost.json") + ".py": json.loads(path.read_text())["time"]
            for path in sorted((DOCS / "auto_examples").glob("*.cost.json"))}


def keep_screenshots(shots: Path) -> list[str]:
    """Copy the build's screenshots here with a 128-color palette; the names written."""
    written = []
    for source, target in SHOTS.items():
        if (shots / source).exists():
            image = Image.open(shots / source).convert("RGB")
            image.quantize(colors=128).save(HERE / target, optimize=True)
            written.append(target)
    return written


def run() -> str:
    """Build and check the site; the markdown section (raises if the site has problems)."""
    build = load_build()
    chromium = build.check_site.find_chromium()
    seconds = build.build()
    start = time.perf_counter()
    problems = build.check(chromium)
    check_seconds = time.perf_counter() - start
    if problems:
        raise RuntimeError("the site has problems:\n" + "\n".join(problems))
    pages = build.check_site.html_pages(build.OUT)
    lines = [
        "## Documentation site (issue 16)",
        "",
        "`make docs` (`docs/build.py`): everything generated is removed, then `sphinx-build -W` "
        "(warnings are errors) builds the site into `docs/_build/html`, running the examples "
        "gallery's scripts; then every local link and image of every page is checked and every "
        "page is opened in headless Chromium (console errors, uncaught exceptions, failed "
        "requests, images that do not decode). Timed once; the machine was shared with other "
        "work. Reproduce: `.venv/bin/python benchmarks/run.py docs`.",
        "",
        "| step | result |",
        "| --- | ---: |",
        f"| sphinx-build from scratch (with the gallery) | {seconds:.0f} s |",
        f"| HTML pages | {len(pages)} |",
        f"| link check and {'headless Chromium' if chromium else 'no browser'} | "
        f"{check_seconds:.0f} s |",
        "| problems found | 0 |",
        "",
        "| gallery example | run time in the build |",
        "| --- | ---: |",
    ]
    lines += [f"| `examples/{name}` | {s:.1f} s |" for name, s in example_seconds().items()]
    written = keep_screenshots(build.SHOTS) if chromium else []
    if written:
        lines += ["", "Screenshots taken by the check (1280 × 900, headless Chromium): the home "
                  "page and the linear-autoencoder example.", ""]
        lines += [f"![{name}]({name})" for name in written]
    else:
        lines += ["", "No headless Chromium here (`make browser`): no screenshots."]
    return "\n".join(lines)
