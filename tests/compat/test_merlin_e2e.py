"""Merlin's own end-to-end suite (the ``test`` package inside the merlin-sdk 0.50.0 wheel), run
against this control plane with only the connection changed.

Merlin's test files are used as the wheel ships them; their data files come from
``../shared/merlin-e2e`` (copied into a temporary directory, never into this repository), laid
out as in Merlin's repository: ``pytest.ini`` at the root, ``test/<dir>/...`` beside the code.
What changes is how they connect: Merlin's own E2E_* variables (URL, project, environment),
a project created first (Merlin's SDK never creates one), and the Jupyter token, added to the
SDK's API client by ``scripts/merlin_e2e_plugin.py``. Merlin's ``pytest.ini`` stops at the first
failure (``-x``); here every selected test runs, one line each is printed, and any test of
``EXPECTED_PASS`` that does not pass fails this test.

Run: the three files of ``FILES`` less ``DESELECTED`` (each with what it needs that is not here).
Not run at all: ``batch_integration_test.py`` (BigQuery and Merlin's batch jobs),
``build_image_integration_test.py`` and ``local_server_test.py`` (Docker image builds),
``pyfunc_upi_integration_test.py`` (UPI over gRPC), and the SDK's unit tests (``*_test.py``
that patch urllib3 or mock HTTP: they never reach a server, so they test the SDK, not this).
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from tests.compat.conftest import SCRIPTS, SDK_VERSION, build_sdk_venv
from tests.conftest import SHARED, unique

pytestmark = pytest.mark.timeout(1800)

MERLIN_DATA = SHARED / "merlin-e2e"

# Merlin's test extras (python/sdk/requirements_test.txt) as far as the selected tests import
# them. xgboost 1.6.2 is the one that reads test/xgboost-model/model.bst (a pre-1.0 binary
# model); it pulls scikit-learn 1.3.2 and numpy<2. joblib<1.2 is Merlin's pin for KServe.
REQUIREMENTS = [
    f"merlin-sdk=={SDK_VERSION}",
    "setuptools<69",  # MLflow 1.26 imports pkg_resources and distutils (see conftest.requirements)
    "joblib<1.2",
    "xgboost==1.6.2",
    "scikit-learn==1.3.2",
    "numpy<2",
    "pytest<9",
    "pytest-dependency",
    "urllib3-mock",  # imported by Merlin's test/conftest.py
    "recursive-diff",  # imported by integration_test.py
    "xarray",
    "requests",
]

# Merlin's end-to-end files that talk to a Merlin API.
FILES = ["test/integration_test.py", "test/pyfunc_integration_test.py",
         "test/cli_integration_test.py"]

# What needs a cluster component this control plane does not have (or will never have).
DESELECTED = {
    "test/integration_test.py::test_tensorflow":
        "TensorFlow Serving image (KServe); test/tensorflow-model is not among the data files",
    "test/integration_test.py::test_logger":
        "TensorFlow Serving image and Merlin's request logger sidecar",
    "test/integration_test.py::test_deployment_mode_for_serving_model":
        "TensorFlow Serving image (KServe raw deployment vs serverless)",
    "test/integration_test.py::test_pytorch": "TorchServe image",
    "test/integration_test.py::test_resource_request_with_gpu": "GPUs",
    "test/integration_test.py::test_custom_transformer": "a Docker image as transformer",
    "test/integration_test.py::test_feast_enricher": "Feast",
    "test/integration_test.py::test_standard_transformer_without_feast":
        "Merlin's standard transformer (a Go service image)",
    "test/integration_test.py::test_standard_transformer_with_feast": "Feast",
    "test/integration_test.py::test_standard_transformer_with_multiple_feast": "Feast",
    "test/integration_test.py::test_standard_transformer_with_multiple_feast_with_source":
        "Feast (and skipped by Merlin itself)",
    "test/integration_test.py::test_custom_model_without_artifact": "a custom Docker image",
    "test/integration_test.py::test_custom_model_with_artifact": "a custom Docker image",
    "test/integration_test.py::test_redeploy_model":
        "a custom Docker image and an image transformer",
    "test/integration_test.py::test_standard_transformer_simulate":
        "the standard transformer's engine (Merlin's Go API simulates it)",
    "test/integration_test.py::test_standard_transformer_simulate_feast":
        "Feast and the standard transformer's engine",
}

EXPECTED_PASS = [
    "test/integration_test.py::test_model_version_with_labels",
    "test/integration_test.py::test_sklearn[DeploymentMode.RAW_DEPLOYMENT]",
    "test/integration_test.py::test_sklearn[DeploymentMode.SERVERLESS]",
    "test/integration_test.py::test_xgboost[DeploymentMode.RAW_DEPLOYMENT]",
    "test/integration_test.py::test_xgboost[DeploymentMode.SERVERLESS]",
    "test/integration_test.py::test_model_schema[DeploymentMode.RAW_DEPLOYMENT]",
    "test/integration_test.py::test_model_schema[DeploymentMode.SERVERLESS]",
    "test/integration_test.py::test_mlflow_tracking",
    "test/integration_test.py::test_set_traffic",
    "test/integration_test.py::test_serve_traffic",
    "test/integration_test.py::test_multi_env",
    "test/integration_test.py::test_resource_request[DeploymentMode.RAW_DEPLOYMENT]",
    "test/integration_test.py::test_resource_request[DeploymentMode.SERVERLESS]",
    "test/pyfunc_integration_test.py::test_pyfunc",
    "test/pyfunc_integration_test.py::test_pyfunc_image_builder_resource_request",
    "test/pyfunc_integration_test.py::test_pyfunc_env_vars",
    "test/pyfunc_integration_test.py::test_pyfunc_model_observability",
    "test/pyfunc_integration_test.py::test_pyfunc_old_infer",
    "test/cli_integration_test.py::test_cli_deployment_undeployment",
    "test/cli_integration_test.py::test_cli_deployment_undeployment_with_resource_request",
    "test/cli_integration_test.py::test_cli_scaffold_with_invalid_project",
    "test/cli_integration_test.py::test_cli_scaffold_with_invalid_model",
]


def lay_out_suite(python: pathlib.Path, root: pathlib.Path) -> None:
    """Merlin's repository layout: the wheel's ``test`` package with its data files beside it."""
    # Not "import test": that finds the standard library's regression tests first.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]})
    shipped = pathlib.Path(site.stdout.strip()) / "test"
    assert (shipped / "integration_test.py").exists(), f"merlin-sdk's tests are not in {shipped}"
    shutil.copytree(shipped, root / "test", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(MERLIN_DATA / "test", root / "test", dirs_exist_ok=True)
    shutil.copy(MERLIN_DATA / "pytest.ini", root / "pytest.ini")
    shutil.copy(SCRIPTS / "merlin_e2e_plugin.py", root / "merlin_e2e_plugin.py")


def results(junit: pathlib.Path) -> dict[str, tuple[str, float, str]]:
    """node id -> (outcome, seconds, first line of the failure)."""
    seen: dict[str, tuple[str, float, str]] = {}
    for case in ET.parse(junit).iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        node = f"{module}.py::{case.get('name')}"
        outcome, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                detail = (found.get("message") or "").splitlines()[0][:160] if found.get("message") else ""
                break
        seen[node] = (outcome, float(case.get("time") or 0), detail)
    return seen


def test_merlin_end_to_end_suite(compat_plane, tmp_path, capsys):
    try:
        python = build_sdk_venv(REQUIREMENTS, prefix="merlin-e2e")
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.fail(f"could not build merlin-sdk's test virtualenv: {exc}")
    lay_out_suite(python, tmp_path)
    project = unique("merlin-e2e")
    status, body = compat_plane.client().post("/projects", json={"name": project})
    assert status == 201, body

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MERLIN_", "MLFLOW_", "E2E_"))}
    env.pop("PYTHONPATH", None)  # the SDK's venv must not see this project's packages
    env.update(
        E2E_MERLIN_URL=compat_plane.url + "merlin/api",
        E2E_PROJECT_NAME=project,
        E2E_MERLIN_ENVIRONMENT="local",
        E2E_MERLIN_TOKEN=compat_plane.token,
        MLFLOW_TRACKING_TOKEN=compat_plane.token,
        PYTHONWARNINGS="ignore",
    )
    junit = tmp_path / "junit.xml"
    # "-o addopts=" drops Merlin's "-x": every test runs, a failure does not hide the next.
    cmd = [str(python), "-m", "pytest", "-o", "addopts=", "-p", "merlin_e2e_plugin",
           "-p", "no:cacheprovider", "-q", "-rA", f"--junitxml={junit}", *FILES]
    for node in DESELECTED:
        cmd += ["--deselect", node]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1700)
    took = time.monotonic() - started
    (tmp_path / "merlin-pytest.log").write_text(proc.stdout + "\n" + proc.stderr)
    assert junit.exists(), f"Merlin's suite did not run:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    seen = results(junit)

    lines = [f"  {outcome.upper():7} {secs:6.1f} s  {node}" + (f"  ({detail})" if detail else "")
             for node, (outcome, secs, detail) in seen.items()]
    passed = [n for n, (o, _, _) in seen.items() if o == "passed"]
    lines.append(f"Merlin's suite: {len(passed)} of {len(seen)} passed in {took:.0f} s; "
                 f"{len(DESELECTED)} tests deselected by name (they need cluster components)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    regressed = [n for n in EXPECTED_PASS if seen.get(n, ("missing",))[0] != "passed"]
    assert not regressed, (
        f"Merlin tests that must pass did not: {regressed}\n" + "\n".join(lines)
        + f"\n--- Merlin's pytest output ---\n{proc.stdout[-12000:]}")
    assert set(seen) == set(EXPECTED_PASS), (
        f"the selection changed: ran {sorted(set(seen) - set(EXPECTED_PASS))} beyond the list; "
        "add them to EXPECTED_PASS or DESELECTED (with the reason)")
