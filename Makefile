# ScarView developer commands. Every target creates .venv itself when it is missing.
#   make run    open the app on the sample patient
#   make test   the whole test suite plus lint (what CI runs)
#   make lint   ruff, mypy and the import-layer contracts
#   make bench  speed, memory and accuracy tables

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Shared libraries Qt 6 loads even offscreen, and the Debian packages that carry them.
QT_LIBS := libEGL.so.1:libegl1 libGL.so.1:libgl1 libxkbcommon.so.0:libxkbcommon0 \
	libfontconfig.so.1:libfontconfig1 libglib-2.0.so.0:libglib2.0-0 libdbus-1.so.3:libdbus-1-3 \
	libxcb-cursor.so.0:libxcb-cursor0 libxkbcommon-x11.so.0:libxkbcommon-x11-0 \
	libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1

.PHONY: run test lint bench check-system clean samples

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "ScarView needs Python 3.11 or newer; found $$($(PYTHON) --version)."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

check-system:
	@missing=""; for pair in $(QT_LIBS); do lib=$${pair%%:*}; pkg=$${pair##*:}; \
		ldconfig -p 2>/dev/null | grep -q "$$lib" || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "Qt needs these Debian packages, which are missing:$$missing"; \
		echo "Install them with: sudo apt-get install$$missing"; exit 1; fi

run: $(STAMP) check-system
	$(VENV)/bin/scarview gui

test: $(STAMP) check-system lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check scarview tests benchmarks
	$(VENV)/bin/ruff format --check scarview tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/run.py

samples: $(STAMP)
	$(PY) -m scarview.synth.samples sample_images

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build
