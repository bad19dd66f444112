"""Build the documentation site from scratch and check it: the ``make docs`` entry point.

Runs ``sphinx-build -W`` (warnings are errors) into ``docs/_build/html`` after removing the
previous build and everything generated (so that no warning hides in an unchanged page),
then checks every page's local links and images (:func:`check_site.broken_links`) and opens
every page in headless Chromium (:func:`check_site.check_in_browser`), which also takes the
screenshots in :data:`SCREENSHOTS` into ``docs/_build/screenshots``. Prints the page count
and the build time; exits non-zero on any problem.
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import check_site

DOCS = Path(__file__).resolve().parent
OUT = DOCS / "_build" / "html"
SHOTS = DOCS / "_build" / "screenshots"
#: Written by every build: removed first.
GENERATED = ["_build", "generated", "auto_examples", "api.rst", "sg_execution_times.rst"]
#: Screenshot file → (page, CSS selector of what to scroll to first, or None).
SCREENSHOTS = {
    "home.png": ("index.html", None),
    "gallery.png": ("auto_examples/plot_04_linear_pca.html", "img.sphx-glr-single-img"),
}


def clean() -> None:
    """Remove the previous build and the generated sources."""
    for name in GENERATED:
        path = DOCS / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def build() -> float:
    """Build the site from scratch with warnings as errors; the seconds it took."""
    clean()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                    str(DOCS), str(OUT)], check=True)
    return time.perf_counter() - start


def check(chromium: str | None) -> list[str]:
    """The site's problems: broken links, then what the browser found (skipped, saying so,
    without Chromium); writes the screenshots."""
    problems = check_site.broken_links(OUT)
    if chromium is None:
        print("docs: no headless Chromium (make browser installs it): pages not opened in a "
              "browser, no screenshots", file=sys.stderr)
        return problems
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots = {page: (SHOTS / name, selector) for name, (page, selector) in SCREENSHOTS.items()}
    found = check_site.check_in_browser(OUT, chromium, shots)
    return problems + [f"{page}: {p}" for page, lines in found.items() for p in lines]


def main(argv: list[str] | None = None) -> int:
    """Build, check and report; the exit status (1 when the site has problems)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-browser", action="store_true",
                        help="skip the headless Chromium check and the screenshots")
    args = parser.parse_args(argv)
    seconds = build()
    pages = len(check_site.html_pages(OUT))
    chromium = None if args.no_browser else check_site.find_chromium()
    problems = check(chromium)
    for line in problems:
        print(f"docs: {line}", file=sys.stderr)
    opened = "opened in headless Chromium" if chromium else "not opened in a browser"
    print(f"docs: {pages} pages built in {seconds:.0f} s into {OUT}, {opened}: "
          f"{len(problems)} problems" + (f"; screenshots in {SHOTS}" if chromium else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
