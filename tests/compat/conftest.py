"""Compatibility with the official ``merlin-sdk``: its own virtualenv, scripts run against a real
control plane (a subprocess on a real port, since the SDK runs in another process).

The virtualenv is built once and cached outside the repository, keyed by the hash of its pinned
requirements, so a warm run costs nothing. ``MERLIN_COMPAT_CACHE`` moves the cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Iterator

import pytest

from tests.conftest import ControlPlaneProcess, _stop_model_servers as stop_model_servers, unique

SCRIPTS = pathlib.Path(__file__).parent / "scripts"
SDK_VERSION = "0.50.0"


def requirements() -> list[str]:
    """What the SDK's virtualenv holds: Merlin's client as its users install it, plus what the
    scripts train with. scikit-learn matches the server's, since standard-layout models (no
    recorded requirements) are served by the server's own environment."""
    return [
        f"merlin-sdk=={SDK_VERSION}",
        # MLflow 1.26 imports pkg_resources (gone in setuptools 81), and with setuptools 80 its
        # log_pyfunc_model fails copying artifacts ("No module named 'distutils._modified'");
        # 68 works. A Merlin user's environment needs this pin too.
        "setuptools<69",
        f"scikit-learn=={metadata.version('scikit-learn')}",
        "joblib",
    ]


def cache_root() -> pathlib.Path:
    default = pathlib.Path.home() / ".cache" / "merlin-jupyter"
    return pathlib.Path(os.environ.get("MERLIN_COMPAT_CACHE", default))


def _uv() -> list[str]:
    uv = pathlib.Path(sys.executable).with_name("uv")
    return [str(uv)] if uv.exists() else [sys.executable, "-m", "uv"]


def build_sdk_venv() -> pathlib.Path:
    """The cached virtualenv's python, built (into a temporary directory, then renamed, so an
    interrupted build is never mistaken for a finished one) when missing."""
    reqs = requirements()
    key = hashlib.sha256("\n".join([sys.version.split()[0], *reqs]).encode()).hexdigest()[:16]
    target = cache_root() / f"compat-{key}"
    python = target / "bin" / "python"
    if python.exists() and (target / ".complete").exists():
        return python
    building = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run([*_uv(), "venv", "-q", "--python", sys.executable, str(building)], check=True)
    subprocess.run([*_uv(), "pip", "install", "-q", "--python", str(building / "bin" / "python"),
                    *reqs], check=True)
    (building / ".complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
    if target.exists():  # a concurrent build finished first
        shutil.rmtree(building, ignore_errors=True)
    else:
        building.rename(target)
    # A venv's scripts name their interpreter by absolute path: use python directly, never them.
    return python


@pytest.fixture(scope="session")
def sdk_python() -> pathlib.Path:
    try:
        return build_sdk_venv()
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.fail(f"could not build the merlin-sdk virtualenv: {exc}")


class SdkRunner:
    """Runs a script from ``scripts/`` with the SDK's python; its last stdout line is JSON."""

    def __init__(self, python: pathlib.Path, control_plane):
        self.python = python
        self.cp = control_plane

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MERLIN_", "MLFLOW_"))}
        env.pop("PYTHONPATH", None)  # the SDK's venv must not see this project's packages
        env.update(
            MERLIN_COMPAT_URL=self.cp.url + "merlin/api",
            MERLIN_COMPAT_TOKEN=self.cp.token,
            # MLflow 1.26 sends it as "Authorization: Bearer <token>"; Jupyter accepts both forms.
            MLFLOW_TRACKING_TOKEN=self.cp.token,
            PYTHONWARNINGS="ignore",
            **extra,
        )
        return env

    def run(self, script: str, timeout: float = 240, **extra: str) -> dict[str, Any]:
        proc = subprocess.run(
            [str(self.python), str(SCRIPTS / script)], env=self.env(**extra), cwd=SCRIPTS,
            capture_output=True, text=True, timeout=timeout,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise AssertionError(f"{script} exited with {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-6000:]}")
        return json.loads(lines[-1])


@pytest.fixture(scope="session")
def compat_plane(tmp_path_factory) -> Iterator[ControlPlaneProcess]:
    """A control plane whose isolated model environments live in the cache too, so the
    environment of merlin-sdk's pyfunc models is built once, not once per run."""
    home = tmp_path_factory.mktemp("merlin-compat")
    (home / "config").mkdir()
    options = {"MerlinApp": {"deployer_options": {"envs_dir": str(cache_root() / "envs")}}}
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(options))
    cp = ControlPlaneProcess(home).start()
    yield cp
    cp.stop()
    stop_model_servers(cp.home)


@pytest.fixture(scope="session")
def sdk(sdk_python, compat_plane) -> SdkRunner:
    return SdkRunner(sdk_python, compat_plane)


@pytest.fixture
def merlin_project(compat_plane) -> str:
    """Merlin's SDK never creates projects (MLP does); a user creates one in the panel first."""
    name = unique("compat")
    status, body = compat_plane.client().post("/projects", json={"name": name})
    assert status == 201, body
    return name
