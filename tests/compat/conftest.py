"""Compatibility with the official ``merlin-sdk``: its own virtualenv, scripts run against a real
control plane (a subprocess on a real port, since the SDK runs in another process).

The virtualenv is built once and cached outside the repository (tests/cached_venv.py).
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
from importlib import metadata
from typing import Any, Iterator

import pytest

from tests.cached_venv import cache_root, cached_venv
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


def build_sdk_venv(reqs: list[str] | None = None, prefix: str = "compat") -> pathlib.Path:
    """The cached virtualenv's python (the SDK's requirements unless told), built when missing."""
    return cached_venv(requirements() if reqs is None else reqs, prefix)


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
