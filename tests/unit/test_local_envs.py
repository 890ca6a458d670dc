"""Which models need an isolated environment, and what goes into it (no builds here)."""
from __future__ import annotations

import sys
from importlib import metadata

from merlin_jupyter_server.deployers import local_envs


def _model(tmp_path, requirements: str | None = None, conda: str | None = None):
    if requirements is not None:
        (tmp_path / "requirements.txt").write_text(requirements)
    if conda is not None:
        (tmp_path / "conda.yaml").write_text(conda)
    return str(tmp_path)


def test_requirements_this_server_meets_need_no_environment(tmp_path):
    sklearn = metadata.version("scikit-learn")
    path = _model(tmp_path, f"mlflow\nscikit-learn=={sklearn}\n# a comment\n")
    assert local_envs.plan(path, str(tmp_path / "envs")) is None


def test_no_recorded_requirements_need_no_environment(tmp_path):
    (tmp_path / "model.joblib").write_bytes(b"")
    assert local_envs.plan(str(tmp_path), str(tmp_path / "envs")) is None
    assert local_envs.plan(None, str(tmp_path / "envs")) is None  # remote artifacts


def test_merlin_pyfunc_requirements_get_an_environment(tmp_path):
    conda = ("dependencies:\n- python=3.11.*\n- pip:\n  - mlflow\n  - merlin-pyfunc-server<0.49.0\n"
             "  - joblib\n")
    plan = local_envs.plan(_model(tmp_path, conda=conda), str(tmp_path / "envs"))
    assert plan is not None and "merlin-pyfunc-server<0.49.0" in plan.reason
    # Merlin's model server is replaced by this project's; the model's class needs merlin-sdk.
    assert "merlin-sdk" in plan.requirements
    assert not any("pyfunc-server" in r for r in plan.requirements)
    assert {"tornado>=6.4", "prometheus_client>=0.20"} <= set(plan.requirements)
    assert plan.requirements.count("mlflow") == 1
    assert plan.path.startswith(str(tmp_path / "envs")) and plan.python.endswith("bin/python")


def test_the_environment_is_keyed_by_the_requirements(tmp_path):
    plans = []
    for version in (1, 2):
        model = tmp_path / f"m{version}"
        model.mkdir()
        path = _model(model, f"no-such-package-xyz=={version}\n")
        plans.append(local_envs.plan(path, str(tmp_path / "envs")))
    assert plans[0].path != plans[1].path
    assert plans[0].reason == "this server's environment lacks no-such-package-xyz==1"


def test_version_mismatch_is_named(tmp_path):
    installed = metadata.version("tornado")
    plan = local_envs.plan(_model(tmp_path, "tornado==0.1\n"), str(tmp_path / "envs"))
    assert f"tornado==0.1 (this server has {installed})" in plan.reason


def test_builder_command_runs_this_file_then_the_model_server(tmp_path):
    plan = local_envs.EnvPlan(str(tmp_path / "env"), ["a", "b"], "why")
    cmd = local_envs.builder_command(sys.executable, plan, ["--model-uri", "x"])
    assert cmd[:2] == [sys.executable, local_envs.__file__.replace(".pyc", ".py")]
    assert cmd[2:] == [plan.path, "why", "a", "b", "--", "--model-uri", "x"]


def test_a_binary_xgboost_model_without_requirements_gets_xgboost_2(tmp_path):
    import shutil

    from tests.conftest import SHARED

    # Merlin's own test model: the binary format, which XGBoost 3 cannot read.
    shutil.copy(SHARED / "merlin-e2e" / "test" / "xgboost-model" / "model.bst", tmp_path / "model.bst")
    plan = local_envs.plan(str(tmp_path), str(tmp_path / "envs"))
    try:
        installed = metadata.version("xgboost")
    except metadata.PackageNotFoundError:
        installed = None
    if installed and int(installed.split(".")[0]) < 3:
        assert plan is None  # this server's XGBoost reads it
    else:
        assert plan is not None and "xgboost<3" in plan.reason
        assert "xgboost-cpu>=2.1,<3" in plan.requirements
    # The JSON format, which every XGBoost reads, needs nothing more than this server.
    (tmp_path / "model.bst").write_bytes(b'{"learner": {}}')
    assert local_envs.plan(str(tmp_path), str(tmp_path / "envs")) is None
