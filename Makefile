# simcontainer: the two README commands and their helpers.
#   make app   - create the environment if missing, start the Streamlit app on the default scenario
#   make test  - create the environment if missing, run lint and every test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: app test lint unit browser-deps bench fidelity clean venv

$(STAMP): requirements.lock pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "simcontainer needs Python >= 3.11; set PY=python3.X")'
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . \
	  || $(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

app: $(STAMP)
	$(BIN)/streamlit run app.py --browser.gatherUsageStats false --server.headless true

lint: $(STAMP)
	$(BIN)/ruff check simcontainer tests bench app.py

# Debian's Chromium for the real-browser test (never a browser download). Under CI=true a
# missing browser is an error; elsewhere the browser test skips when it cannot be installed.
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser test..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || { echo "could not install chromium"; [ "$$CI" != "true" ] || exit 1; }; \
	else echo "chromium missing and not root: the browser test will skip"; [ "$$CI" != "true" ] || exit 1; fi

test: $(STAMP) browser-deps lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

fidelity: $(STAMP)
	$(BIN)/simcontainer fidelity --out docs/fidelity.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
