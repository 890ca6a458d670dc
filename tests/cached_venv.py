"""Virtualenvs of other projects' packages (merlin-sdk for the compatibility tests, KServe for the
serving benchmark), built once and cached outside the repository under a key of the Python
version and the pinned requirements, so a warm run costs nothing. ``MERLIN_COMPAT_CACHE`` moves
the cache.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import time


def cache_root() -> pathlib.Path:
    default = pathlib.Path.home() / ".cache" / "merlin-jupyter"
    return pathlib.Path(os.environ.get("MERLIN_COMPAT_CACHE", default))


def uv() -> list[str]:
    found = pathlib.Path(sys.executable).with_name("uv")
    return [str(found)] if found.exists() else [sys.executable, "-m", "uv"]


def cached_venv(reqs: list[str], prefix: str) -> pathlib.Path:
    """The python of the cached virtualenv holding ``reqs``, built when missing (into a
    temporary directory renamed when complete, so an interrupted build is never taken for a
    finished one). A venv's scripts name their interpreter by absolute path: use this python
    directly, never them."""
    key = hashlib.sha256("\n".join([sys.version.split()[0], *reqs]).encode()).hexdigest()[:16]
    target = cache_root() / f"{prefix}-{key}"
    python = target / "bin" / "python"
    if python.exists() and (target / ".complete").exists():
        return python
    building = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run([*uv(), "venv", "-q", "--python", sys.executable, str(building)], check=True)
    subprocess.run([*uv(), "pip", "install", "-q", "--python", str(building / "bin" / "python"), *reqs],
                   check=True)
    (building / ".complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
    if target.exists():  # a concurrent build finished first
        shutil.rmtree(building, ignore_errors=True)
    else:
        building.rename(target)
    return python
