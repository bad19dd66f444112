# Two commands for a fresh machine: `make demo` (the main job) and `make test`.
# Every target installs what it needs into .venv once; later runs reuse it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/deepae demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) report

# Optional: headless Chromium (Debian's package, ~330 MB, ~30 s; needs root) for the test
# that opens a report in a real browser; without it that test is skipped, saying so.
browser:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
