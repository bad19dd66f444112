# Two commands for a fresh machine: `make demo` (the main job) and `make test`.
# Every target installs what it needs into .venv once; later runs reuse it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test bench docs lint clean browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# The documentation's tools (Sphinx, numpydoc, sphinx-gallery, the PyData theme), once.
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,docs]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/deepae demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks docs examples
	$(PY) -m pytest -q -n 2

# TSB-AD's metric code for bench_timeseries: statsmodels, and tsb-ad without its dependencies.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,bench]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps tsb-ad==1.5
	touch $@

bench: $(STAMP) $(DOCS_STAMP) $(BENCH_STAMP)
	$(PY) benchmarks/run.py

# The site in docs/_build/html, built from scratch with warnings as errors, then every page
# checked for broken links and opened in headless Chromium (make browser) with screenshots.
docs: $(DOCS_STAMP)
	$(PY) docs/build.py

clean:
	rm -rf $(VENV) report docs/_build docs/generated docs/auto_examples docs/api.rst

# Optional: headless Chromium (Debian's package, ~330 MB, ~30 s; needs root) for the test
# that opens a report in a real browser; without it that test is skipped, saying so.
browser:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
