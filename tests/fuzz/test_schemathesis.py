"""An independent fuzzer, Schemathesis, against a real ``jupyter merlin`` and its own openapi.json.

Every operation, valid and invalid data, and stateful sequences along the document's links
(create a project → its model → a version → deploy it → redeploy, logs, undeploy). The run fails
on any 5xx, any answer the document does not describe, any request the document calls invalid
that is accepted, and any valid one that is refused as malformed. The seed is fixed, so a
failure is reproduced by running the printed command again.

Deploys are cheap: fuzzed versions have no model logged, so a local deploy fails in words at
once, and the control plane's processes are stopped at the end.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, ControlPlaneProcess, _stop_model_servers

HERE = pathlib.Path(__file__).parent
SEED = 20261201
MAX_EXAMPLES = int(os.environ.get("MERLIN_FUZZ_EXAMPLES", "10"))
# Generous: the bound is the number of examples; this only stops a run that hangs.
RUN_TIMEOUT = 420

pytestmark = pytest.mark.timeout(RUN_TIMEOUT + 180)


def schemathesis_command(cp: ControlPlaneProcess, report_dir: pathlib.Path) -> list[str]:
    return [
        str(pathlib.Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(HERE / "schemathesis.toml"),
        "run", cp.api_url + "/openapi.json",
        "--url", cp.api_url,
        "-H", f"Authorization: token {cp.token}",
        "--checks", "all",
        # DELETE on a version endpoint undeploys it, and on a model endpoint stops its traffic;
        # as in Merlin the record stays, "terminated", so a GET after it is 200, not 404.
        "--exclude-checks", "use_after_free",
        "--mode", "all",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--seed", str(SEED),
        "--generation-deterministic",
        "--max-examples", str(MAX_EXAMPLES),
        "--workers", "1",
        "--request-timeout", "60",
        "--max-response-time", "60",
        "--no-color",
        "--report", "junit",
        "--report-dir", str(report_dir),
    ]


def seed_data(cp: ControlPlaneProcess) -> None:
    """Id 1 of each kind exists, so fuzzed paths reach real objects; this also starts the
    hosted MLflow, which a first model creation would otherwise wait for."""
    api = cp.client()
    assert api.post("/projects", json={"name": "fuzz-seed"})[0] == 201
    assert api.post("/projects/1/models", json={"name": "seed-model", "type": "sklearn"})[0] == 201
    assert api.post("/models/1/versions", json={"labels": {"stage": "seed"}})[0] == 201
    status, endpoint = api.post("/models/1/versions/1/endpoint", json={"environment_name": "local"})
    assert status == 201, endpoint
    assert api.wait_endpoint(1, 1, endpoint["id"])["status"] == "failed"  # no model logged


def test_schemathesis_finds_nothing(tmp_path):
    cp = ControlPlaneProcess(tmp_path / "home", app="merlin").start()
    seed_data(cp)
    command = schemathesis_command(cp, tmp_path / "report")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    try:
        run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    finally:
        cp.stop()
        _stop_model_servers(cp.home)
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    summary = output[-6000:]
    print(f"schemathesis ran {elapsed:.0f} s (seed {SEED}, {MAX_EXAMPLES} examples per operation):\n{summary}")
    assert run.returncode == 0, f"Schemathesis found problems (seed {SEED}):\n{output[-20000:]}"
