# PhysGen Studio. `make run` serves the app, `make test` runs the suite; both install what is missing first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export PYTHONUNBUFFERED := 1

.PHONY: install system run lint test test-fast bench clean-venv

install: system $(STAMP)

system:
	@bash scripts/install_system.sh

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first, from the local wheel, so nothing else can pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $(STAMP)

run: install
	$(PY) app.py

# ruff's lint rules (pyproject.toml); `ruff format` is not enforced (see there).
lint: install
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

test-fast: lint
	$(PY) -m pytest -q -m "not sim and not slow and not browser"

bench: install
	$(PY) -m physgen.bench --json

clean-venv:
	rm -rf $(VENV)
