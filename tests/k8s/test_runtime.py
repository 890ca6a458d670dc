"""The merlin-mlflow runtime that ships in deploy/: the ClusterServingRuntime manifest matches
what the deployer renders, and the container entrypoint installs a model's requirements once."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from merlin_jupyter_server.deployers import k8s_manifests

from .conftest import make_environment, spec_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "runtime" / "runtime-entrypoint.sh"
PRINT_PREFIX = ["python", "-c", "import sys; print(sys.prefix)"]  # found on PATH, as in the image


def test_the_runtime_serves_what_the_deployer_asks_for():
    runtime = yaml.safe_load(
        (ROOT / "deploy" / "kserve" / "cluster-serving-runtime.yaml").read_text()
    )
    isvc = k8s_manifests.inference_service(
        spec_for(make_environment({})), "s3://b/m", {}
    ).inference_service
    model = isvc["spec"]["predictor"]["model"]
    assert (
        runtime["kind"] == "ClusterServingRuntime"
        and runtime["metadata"]["name"] == model["runtime"]
    )
    assert model["modelFormat"]["name"] in [
        f["name"] for f in runtime["spec"]["supportedModelFormats"]
    ]
    container = runtime["spec"]["containers"][0]
    assert container["name"] == "kserve-container"
    assert container["command"][-3:] == ["python", "-m", "merlin_jupyter.serving"]
    assert "--model-uri=/mnt/models" in container["args"]
    assert model["args"][:2] == ["--model-name", "iris-1"]  # appended by KServe; the last one wins
    dockerfile = (ROOT / "deploy" / "runtime" / "Dockerfile").read_text()
    assert (
        "runtime-entrypoint.sh" in dockerfile
        and container["command"][0] == "/opt/merlin/runtime-entrypoint.sh"
    )


def run_entrypoint(tmp_path, requirements: str, command=PRINT_PREFIX):
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "requirements.txt").write_text(requirements)
    env = {
        **os.environ,
        "MERLIN_MODEL_DIR": str(model),
        "MERLIN_ENV_CACHE": str(tmp_path / "cache"),
        "MERLIN_BASE_PYTHON": sys.executable,
        "PIP_NO_INDEX": "1",
        "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_model_needing_only_mlflow_runs_on_the_image_python(tmp_path):
    done = run_entrypoint(tmp_path, "mlflow==2.9.2\n# recorded by MLflow\n\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sys.prefix
    assert "no extra requirements" in done.stderr


@pytest.mark.timeout(120)
def test_requirements_are_installed_once_then_reused_from_the_cache(tmp_path):
    first = run_entrypoint(tmp_path, "mlflow==2.9.2\npip>=20\n")
    assert first.returncode == 0, first.stderr
    assert "installing the model's requirements" in first.stderr and "pip>=20" in first.stderr
    prefix = first.stdout.strip()
    assert prefix.startswith(str(tmp_path / "cache"))

    second = run_entrypoint(tmp_path, "mlflow==2.9.2\npip>=20\n")
    assert second.returncode == 0 and "reusing the cached environment" in second.stderr
    assert second.stdout.strip() == prefix


@pytest.mark.timeout(120)
def test_requirements_that_cannot_be_installed_stop_the_container_with_the_reason(tmp_path):
    done = run_entrypoint(tmp_path, "no-such-package-for-merlin==1.0\n")
    assert done.returncode == 3
    assert "merlin-serving: failed: could not install the model's requirements" in done.stderr
    assert "no-such-package-for-merlin" in done.stderr
    assert not [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
