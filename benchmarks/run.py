"""Run the benchmarks and write benchmarks/results.md (the ``make bench`` entry point).

Every ``benchmarks/bench_<name>.py`` has a ``run() -> str`` that measures something and
returns a markdown section. ``python benchmarks/run.py`` runs them all;
``python benchmarks/run.py pca autoencoder`` runs only those and keeps the other sections
already in results.md. Each section is stored between ``<!-- bench:<name> -->`` and
``<!-- /bench:<name> -->`` markers, under a header describing the machine and the versions.
"""

import argparse
import datetime
import importlib.util
import os
import platform
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
SECTION = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)\n<!-- /bench:(?P=name) -->",
                     re.DOTALL)


def available() -> dict[str, Path]:
    """Benchmark name → file, for every ``bench_<name>.py`` next to this script."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def run_one(name: str, path: Path) -> str:
    """Import ``path`` and return what its ``run()`` returns, with torch's thread count put
    back afterwards: a benchmark that measures on one thread must not leave the next one,
    run in the same process, on one thread too."""
    import torch

    threads = torch.get_num_threads()
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.run().strip()
    finally:
        torch.set_num_threads(threads)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header() -> str:
    """Date, machine and library versions, as markdown."""
    import numpy
    import sklearn
    import torch

    return "\n".join([
        "# deepae benchmarks",
        "",
        f"Last updated {datetime.date.today().isoformat()} on {cpu_model()}, "
        f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {numpy.__version__}, scikit-learn {sklearn.__version__}.",
        "Each section below is rewritten by `.venv/bin/python benchmarks/run.py <name>` "
        "(all of them by `make bench`) and ends with the date and machine of its own run.",
    ])


def stamp() -> str:
    """The line that ends every section: when and where it was measured."""
    return (f"_Measured {datetime.date.today().isoformat()} on {cpu_model()}, "
            f"{os.cpu_count()} cores._")


def stored_sections() -> dict[str, str]:
    """The sections already in results.md, by name."""
    if not RESULTS.exists():
        return {}
    return {m["name"]: m["body"] for m in SECTION.finditer(RESULTS.read_text())}


def write(sections: dict[str, str], order: list[str]) -> None:
    """Write the header and ``sections`` (known benchmarks in ``order``, then any others)."""
    names = [name for name in order if name in sections]
    names += sorted(set(sections) - set(names))
    parts = [header()]
    parts += [f"<!-- bench:{name} -->\n{sections[name]}\n<!-- /bench:{name} -->" for name in names]
    RESULTS.write_text("\n\n".join(parts) + "\n")


def main(argv: list[str] | None = None) -> int:
    found = available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: "
                        f"{', '.join(found)})")
    names = parser.parse_args(argv).names or list(found)
    unknown = [name for name in names if name not in found]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(found)}")
    for name in names:
        print(f"running bench_{name}.py ...", file=sys.stderr, flush=True)
        section = run_one(name, found[name]) + "\n\n" + stamp()
        print(section + "\n", flush=True)
        # After each benchmark, so a later failure loses nothing; read again first, so that
        # sections another run wrote meanwhile are kept.
        write({**stored_sections(), name: section}, list(found))
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
