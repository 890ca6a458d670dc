#!/bin/sh
# Prepares the model's Python environment, then runs the given command in it.
#
# MLflow records a model's requirements in requirements.txt next to MLmodel. They are installed
# into a virtualenv layered over the image's packages (--system-site-packages), cached under
# $MERLIN_ENV_CACHE by the hash of the requirements and the Python version, so a restart or a
# second replica sharing the cache starts without installing again. MLflow itself is left out:
# the image's MLflow loads models logged by older MLflow versions, and the model server needs it.
set -eu

MODEL_DIR="${MERLIN_MODEL_DIR:-/mnt/models}"
CACHE="${MERLIN_ENV_CACHE:-/var/cache/merlin/envs}"
PYTHON="${MERLIN_BASE_PYTHON:-python3}"
REQUIREMENTS="$MODEL_DIR/requirements.txt"

log() { echo "merlin-runtime: $*" >&2; }

wanted=""
if [ -f "$REQUIREMENTS" ]; then
  wanted="$(grep -v -E '^[[:space:]]*(#|$)' "$REQUIREMENTS" | grep -v -i -E '^[[:space:]]*mlflow(-skinny)?([[:space:]=<>!~;[]|$)' || true)"
fi

if [ -z "$wanted" ]; then
  log "no extra requirements; using the image's Python"
  exec "$@"
fi

pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
key="$(printf '%s\n%s\n' "$pyver" "$wanted" | sha256sum | cut -c1-16)"
env_dir="$CACHE/$key"
mkdir -p "$CACHE"

if [ ! -x "$env_dir/bin/python" ]; then
  # One installer at a time per cache; the others wait and then reuse its result.
  exec 9>"$CACHE/.lock"
  flock 9 2>/dev/null || true
  if [ ! -x "$env_dir/bin/python" ]; then
    log "installing the model's requirements into $env_dir:"
    printf '%s\n' "$wanted" | sed 's/^/  /' >&2
    # Built in its own directory and published by an atomic symlink: a crash mid-install never
    # leaves a half-made environment under the cache key.
    build="$env_dir.$$"
    rm -rf "$build"
    # No pip of its own (seconds saved per start): the image's pip installs into it.
    "$PYTHON" -m venv --system-site-packages --without-pip "$build"
    printf '%s\n' "$wanted" > "$build/requirements.txt"
    if ! "$PYTHON" -m pip --python "$build/bin/python" install --disable-pip-version-check -q \
         -r "$build/requirements.txt" >&2; then
      echo "merlin-serving: failed: could not install the model's requirements (see pip's output above)" >&2
      rm -rf "$build"
      exit 3
    fi
    ln -sfn "$build" "$env_dir"
  fi
  exec 9>&-
else
  log "reusing the cached environment $env_dir"
fi

PATH="$env_dir/bin:$PATH"
VIRTUAL_ENV="$env_dir"
export PATH VIRTUAL_ENV
exec "$@"
