"""The fluent SDK against a real control plane, including the ways it can go wrong."""
from __future__ import annotations

import subprocess
import sys

import pytest

import merlin_jupyter as merlin
from tests.conftest import sklearn_model, unique


@pytest.fixture
def connected(control_plane):
    merlin.set_url(control_plane.url + "merlin/api", token=control_plane.token)
    yield control_plane


def test_log_deploy_predict_undeploy(connected):
    merlin.set_project(unique("sdk"))
    model = merlin.set_model("sdk-model", "sklearn")
    clf, sample = sklearn_model()
    with merlin.new_model_version(labels={"by": "test"}) as version:
        merlin.log_param("C", 1.0)
        merlin.log_metric("accuracy", 0.9)
        merlin.log_model(clf, input_example=sample)
    assert version.id == 1 and version.labels == {"by": "test"}
    assert "<table>" in version._repr_html_()
    endpoint = merlin.deploy(version, environment_name="local")
    assert endpoint.status == "running"
    assert endpoint.predict(sample) == clf.predict(sample).tolist()
    assert merlin.logs(version)  # the model server's output
    again = merlin.deploy(version, environment_name="local")  # a redeploy, not a second endpoint
    assert again.id == endpoint.id and again.revision > endpoint.revision
    merlin.undeploy(version, environment_name="local")
    assert [e.status for e in merlin.list_endpoints(version)] == ["terminated"]
    assert [v.id for v in merlin.list_versions(model)] == [1]


def test_mistakes_are_explained(connected):
    with pytest.raises(merlin.MerlinError, match="lowercase"):
        merlin.set_project("Not Valid")
    merlin.set_project(unique("sdk"))
    merlin.set_model("mistakes", "sklearn")
    clf, sample = sklearn_model()
    with pytest.raises(merlin.MerlinError, match="has no version 7"):
        merlin.deploy(7)
    with merlin.new_model_version():
        with pytest.raises(merlin.MerlinError, match="could not predict the input example"):
            merlin.log_model(clf, input_example=[[1.0, 2.0]])  # two features; the model takes four
        with pytest.raises(merlin.MerlinError, match="Cannot log a dict"):
            merlin.log_model({"not": "a model"})


def test_a_version_without_a_model_fails_to_deploy_in_words(connected):
    merlin.set_project(unique("sdk"))
    merlin.set_model("empty", "sklearn")
    with merlin.new_model_version() as version:
        pass
    with pytest.raises(merlin.MerlinDeploymentError, match="has no model logged"):
        merlin.deploy(version)


def test_without_a_control_plane_the_sdk_says_how_to_start_one(tmp_path):
    script = "import merlin_jupyter as m\ntry:\n    m.list_projects()\nexcept m.MerlinError as e:\n    print(e)\n"
    env = {"PATH": "/usr/bin:/bin", "JUPYTER_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path),
           "MERLIN_AUTOSTART": "0"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert "jupyter merlin" in out.stdout and "Traceback" not in out.stderr


def test_the_kernel_side_never_imports_the_control_plane():
    script = ("import sys, merlin_jupyter as m, merlin_jupyter.fluent, merlin_jupyter.client\n"
              "bad = [n for n in ('merlin_jupyter_server', 'jupyter_server', 'sqlalchemy', 'kubernetes') if n in sys.modules]\n"
              "print(bad)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
