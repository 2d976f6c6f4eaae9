# simcontainer: the two README commands and their helpers.
#   make app   - install what the app needs (requirements-app.lock) if missing, start the app
#                (PORT=8501, SCENARIO=a scenario file to open; default: the default scenario)
#   make test  - add the development tools (requirements-dev.lock), run lint and every test
#   make notebooks   - JupyterLab on notebooks/ (installs JupyterLab into .venv the first time)
#   make readme      - regenerate the README's console samples from today's output
#   make screenshots - the app's screenshots into docs/screenshots/ (the tests write to a temp folder)
# Both install with uv when they can and fall back to pip (.ci/install-env); `make lock`
# regenerates the three hash-pinned lock files after a change to pyproject.toml's dependencies.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.app-stamp
DEV_STAMP := $(VENV)/.dev-stamp
PORT ?= 8501
SCENARIO ?=
PYTEST_ARGS ?=
NB_PORT ?= 8888
UV_VERSION ?= 0.13.9
UV_BIN := $(shell command -v uv 2>/dev/null || echo .venv-bootstrap/bin/uv)
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet

.PHONY: app test lint unit browser-deps bench fidelity clean venv app-env lock notebooks readme screenshots

# Bytecode for what the first commands import, written at install: without it the first `check`
# or `run` compiles ~120 modules (0.5-1 s more than the second). Targeted -- the project, what
# `check` and `run` import, and the app's big libraries: ~1,000 files in a few seconds -- rather
# than uv's --compile-bytecode of all of site-packages (~7,400 files, 20-50 s on 2 cores).
# PYTHONDONTWRITEBYTECODE= : written even where the environment turns bytecode off.
define WARM_BYTECODE
	@PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q -j 0 simcontainer app.py
	@PYTHONDONTWRITEBYTECODE= $(BIN)/simcontainer check models/scenarios/default.toml >/dev/null
	@PYTHONDONTWRITEBYTECODE= $(BIN)/simcontainer run models/scenarios/default.toml --json >/dev/null
	@PYTHONDONTWRITEBYTECODE= $(BIN)/python -c "import streamlit, altair, pandas, pyarrow" 2>/dev/null || true
endef

$(APP_STAMP): requirements-app.lock pyproject.toml .ci/install-env
	@PY=$(PY) VENV=$(VENV) sh .ci/install-env requirements-app.lock
	$(WARM_BYTECODE)
	@touch $(APP_STAMP)

# the development lock holds everything the app lock holds, at the same versions
$(DEV_STAMP): requirements-dev.lock requirements-app.lock pyproject.toml .ci/install-env
	@PY=$(PY) VENV=$(VENV) COMPILE=1 sh .ci/install-env requirements-dev.lock
	@PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q -j 0 simcontainer app.py
	@touch $(DEV_STAMP) $(APP_STAMP)

app-env: $(APP_STAMP)

venv: $(DEV_STAMP)

app: $(APP_STAMP)
	$(BIN)/simcontainer app --port $(PORT) $(SCENARIO)

# ruff (style, and no function-level imports of our own modules) and the layers contract
lint: $(DEV_STAMP)
	$(BIN)/ruff check simcontainer tests bench app.py
	$(BIN)/lint-imports

# Debian's Chromium for the real-browser test (never a browser download). Under CI=true a
# missing browser is an error; elsewhere the browser test skips when it cannot be installed.
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || { echo "could not install chromium"; [ "$$CI" != "true" ] || exit 1; }; \
	else echo "chromium missing and not root: the browser test will skip"; [ "$$CI" != "true" ] || exit 1; fi

test: $(DEV_STAMP) browser-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

# the app's pages as PNGs in docs/screenshots/ (Chromium through Playwright; the tests write none)
screenshots: $(DEV_STAMP) browser-deps
	$(BIN)/python -m bench.screenshots

fidelity: $(DEV_STAMP)
	$(BIN)/simcontainer fidelity --out docs/fidelity.md

# JupyterLab is not in the lock files (only the kernel and nbclient the notebook tests use): the
# first `make notebooks` installs it into .venv, every package the lock pins held at its pin.
notebooks: $(DEV_STAMP)
	@if [ ! -x $(BIN)/jupyter-lab ]; then \
	  echo "installing JupyterLab into $(VENV) (once; the lock's versions kept)..."; \
	  grep -E '^[A-Za-z0-9]' requirements-dev.lock | sed 's/ *\\$$//' > $(VENV)/notebook-constraints.txt; \
	  if [ -x "$(UV_BIN)" ]; then $(UV_BIN) pip install --quiet --python $(BIN)/python -c $(VENV)/notebook-constraints.txt jupyterlab; \
	  else ($(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade >/dev/null) && \
	    $(BIN)/python -m pip install --quiet -c $(VENV)/notebook-constraints.txt jupyterlab; fi; \
	fi
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.port=$(NB_PORT) $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The README's console samples and tables, from today's output (tests/test_readme.py checks them)
readme: $(DEV_STAMP)
	$(BIN)/python -m bench.readme_samples --write

# Regenerate the lock files with uv (keeps today's pins unless a range in pyproject.toml moved;
# add LOCK_UPGRADE=--upgrade to take the newest releases). The app lock is resolved within the
# development lock, so the two agree on every version they share.
lock:
	@command -v $(UV_BIN) >/dev/null 2>&1 || { echo "make lock needs uv: pip install uv, or make app once"; exit 1; }
	$(UV_BIN) pip compile pyproject.toml --extra app --extra dev --group build $(LOCK_FLAGS) $(LOCK_UPGRADE) -o requirements-dev.lock
	$(UV_BIN) pip compile pyproject.toml --extra app --group build $(LOCK_FLAGS) -c requirements-dev.lock -o requirements-app.lock
	echo "uv==$(UV_VERSION)" | $(UV_BIN) pip compile - $(LOCK_FLAGS) -o requirements-uv.lock

clean:
	rm -rf $(VENV) .venv-bootstrap .pytest_cache .ruff_cache .hypothesis
