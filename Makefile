# merlin-jupyter developer commands. `make lab` runs the product, `make test` runs every test.
# Everything is installed into .venv by these rules, so both work on a fresh machine.

VENV      ?= .venv
PY        := $(VENV)/bin/python
UV        := $(VENV)/bin/uv
BIN       := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# jupyter refuses to start as root unless told that is intended (CI and containers run as root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_PORT  ?= 8888
PYTEST_ARGS ?=

LABEXT_SRC := $(shell find labextension/src labextension/style -type f 2>/dev/null) \
              labextension/package.json labextension/tsconfig.json
LABEXT_OUT := merlin_jupyter/labextension/package.json

.PHONY: lab test bench install install-test system-deps labextension labextension-check lint clean

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip uv

# Debian packages: chromium for the browser tests, wrk for the benchmark's load generator.
system-deps:
	@missing=""; \
	for cmd in chromium:chromium wrk:wrk; do \
	  bin=$${cmd%%:*}; pkg=$${cmd##*:}; command -v $$bin >/dev/null || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The Python package is installed editable; the hatch build hook is skipped because the
# labextension is built by the rule below, once, instead of on every reinstall.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	SKIP_JUPYTER_BUILDER=1 $(UV) pip install -q --python $(PY) -e ".[$*]"
	@touch $@

labextension: $(LABEXT_OUT)
$(LABEXT_OUT): $(LABEXT_SRC) | $(VENV)/.installed-lab
	cd labextension && jlpm install --mode=skip-build >/dev/null && jlpm build
	$(PY) -m jupyter labextension develop --overwrite . >/dev/null

install: $(VENV)/.installed-lab $(LABEXT_OUT)

install-test: system-deps $(VENV)/.installed-lab $(VENV)/.installed-test $(LABEXT_OUT)

lab: install
	cd notebooks && $(BIN)/jupyter lab --port=$(LAB_PORT) $(ALLOW_ROOT)

# The panel's TypeScript: strict type check (its tests included), lint, Jest unit tests.
labextension-check: $(LABEXT_OUT)
	cd labextension && jlpm check

test: install-test labextension-check
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: install-test
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) labextension/node_modules labextension/lib merlin_jupyter/labextension
