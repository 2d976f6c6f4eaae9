# simcontainer: the two README commands and their helpers.
#   make app   - install what the app needs (requirements-app.lock) if missing, start the app
#                (PORT=8501, SCENARIO=a scenario file to open; default: the default scenario)
#   make test  - add the development tools (requirements-dev.lock), run lint and every test
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
UV_VERSION ?= 0.13.9
UV_BIN := $(shell command -v uv 2>/dev/null || echo .venv-bootstrap/bin/uv)
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet

.PHONY: app test lint unit browser-deps bench fidelity clean venv app-env lock screenshots

$(APP_STAMP): requirements-app.lock pyproject.toml .ci/install-env
	@PY=$(PY) VENV=$(VENV) sh .ci/install-env requirements-app.lock
	@touch $(APP_STAMP)

# the development lock holds everything the app lock holds, at the same versions
$(DEV_STAMP): requirements-dev.lock requirements-app.lock pyproject.toml .ci/install-env
	@PY=$(PY) VENV=$(VENV) COMPILE=1 sh .ci/install-env requirements-dev.lock
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
