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
# A stamp of our own: a reinstall of the package touches the build's files, which then looked
# newer than sources changed before it, and the panel was not rebuilt.
LABEXT_OUT := labextension/lib/.built

.PHONY: lab test bench team install install-test system-deps labextension labextension-check lint clean

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip uv

# Debian packages: chromium for the browser tests, wrk for the benchmark's load generator,
# postgresql for the store's tests and benchmark on PostgreSQL (the tests start their own cluster;
# Debian keeps initdb and pg_ctl off PATH, in /usr/lib/postgresql/*/bin); prometheus for the
# Kubernetes rollout tests (a real Prometheus scraping real model servers).
system-deps:
	@missing=""; \
	for cmd in chromium:chromium wrk:wrk prometheus:prometheus; do \
	  bin=$${cmd%%:*}; pkg=$${cmd##*:}; command -v $$bin >/dev/null || missing="$$missing $$pkg"; \
	done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The Python package is installed editable; the hatch build hook is skipped because the
# labextension is built by the rule below, once, instead of on every reinstall.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	@# A labextension build leaves its own install.json in the output directory; the wheel maps
	@# labextension/install.json to the same place, and two files at one path fail a reinstall.
	@rm -f merlin_jupyter/labextension/install.json
	SKIP_JUPYTER_BUILDER=1 $(UV) pip install -q --python $(PY) -e ".[$*]"
	@touch $@

labextension: $(LABEXT_OUT)
$(LABEXT_OUT): $(LABEXT_SRC) | $(VENV)/.installed-lab
	cd labextension && jlpm install --mode=skip-build >/dev/null && jlpm build
	$(PY) -m jupyter labextension develop --overwrite . >/dev/null
	@touch $@

install: $(VENV)/.installed-lab $(LABEXT_OUT)

# JupyterHub's proxy (npm's configurable-http-proxy), for `make team` and tests/team.
HUB_PROXY := deploy/jupyterhub/node_modules/.bin/configurable-http-proxy
$(HUB_PROXY): deploy/jupyterhub/package.json deploy/jupyterhub/package-lock.json
	cd deploy/jupyterhub && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install-test: system-deps $(VENV)/.installed-lab $(VENV)/.installed-test $(LABEXT_OUT) $(HUB_PROXY)

lab: install
	cd notebooks && $(BIN)/jupyter lab --port=$(LAB_PORT) $(ALLOW_ROOT)

# The panel's TypeScript: strict type check (its tests included), lint, Jest unit tests.
labextension-check: $(LABEXT_OUT)
	cd labextension && jlpm check

test: install-test labextension-check
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# A JupyterHub on 127.0.0.1 with users alice and bob and the team's Merlin control plane as its
# service (PostgreSQL when this machine has it); prints how to log in as each. Ctrl-C stops it.
team: $(VENV)/.installed-team $(LABEXT_OUT) $(HUB_PROXY)
	$(PY) deploy/jupyterhub/team.py

bench: install-test
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) labextension/node_modules labextension/lib merlin_jupyter/labextension \
	       deploy/jupyterhub/node_modules
