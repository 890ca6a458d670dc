"""%merlin traffic, rollback, deploy --dry-run, --help and completion, through a real IPython shell."""
from __future__ import annotations

import httpx
import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError

from tests.conftest import sklearn_model, unique


def answered_by(url: str, sample, tries: int = 40) -> set[str]:
    with httpx.Client(trust_env=False) as client:
        return {client.post(url + "/v1/predict", json={"instances": sample.tolist()}).headers["X-Merlin-Version"]
                for _ in range(tries)}


def test_traffic_split_mirror_and_rollback(ip, merlin):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("model split --type sklearn")
    with pytest.raises(UsageError, match="no running endpoint in 'local'"):
        merlin("traffic v1=100")  # nothing deployed yet
    for number in (1, 2):
        merlin("log clf --sample X_test[:3]")
        assert merlin(f"deploy v{number} --env local").status == "running"
    with pytest.raises(UsageError, match="serves no traffic"):
        merlin("rollback")

    first = merlin("traffic v1=100 --mirror v2")
    assert first.status == "serving" and first.traffic == "v1 100%, mirror v2"
    assert answered_by(first.url, sample) == {"1"}
    with pytest.raises(UsageError, match="only one traffic rule"):
        merlin("rollback")

    second = merlin("traffic v1=90 v2=10")
    assert second.traffic == "v1 90%, v2 10%" and second.url == first.url
    back = merlin("rollback")
    assert back.traffic == "v1 100%, mirror v2"
    assert answered_by(back.url, sample) == {"1"}
    assert merlin("rollback").traffic == "v1 90%, v2 10%"  # rolling back twice returns
    assert merlin("traffic").traffic == "v1 90%, v2 10%"   # no pairs: show the rule

    with pytest.raises(UsageError, match="add up to 100"):
        merlin("traffic v1=50 v2=20")
    with pytest.raises(UsageError, match="VERSION=PERCENT"):
        merlin("traffic v1=lots")
    with pytest.raises(UsageError, match="is serving traffic"):
        merlin("undeploy v1")  # it serves traffic: the server refuses


def test_dry_run_prints_manifests_only_for_a_cluster(ip, merlin, live_api, capsys):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("model dry --type sklearn")
    merlin("log clf --sample X_test[:3]")
    with pytest.raises(UsageError, match="no manifests to show"):
        merlin("deploy --dry-run --env local")
    env = unique("cluster")
    status, body = live_api.post("/environments", json={
        "name": env, "kubeconfig": "/nonexistent/kubeconfig", "context": "ci",
        "artifact_store": {"uri": "s3://models/merlin"}})
    assert status == 201, body
    capsys.readouterr()
    assert merlin(f"deploy v1 --dry-run --env {env} --cpu 250m") is None
    out = capsys.readouterr().out
    assert "kind: InferenceService" in out and "250m" in out
    assert [e.status for e in merlin("status v1")] == []  # nothing was deployed


def test_every_subcommand_has_help(ip, capsys):
    from merlin_jupyter.magics import SUBCOMMANDS

    for name in SUBCOMMANDS:
        ip.run_line_magic("merlin", f"{name} --help")
        assert f"%merlin {name}" in capsys.readouterr().out


def test_tab_completion_offers_names_from_the_control_plane(ip, merlin):
    project = unique("compl")
    merlin(f"project {project}")
    merlin("model completed --type sklearn")
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("log clf --sample X_test[:3]")

    def complete(line: str) -> list[str]:
        with provisionalcompleter():  # the API Jupyter frontends use
            return [c.text for c in ip.Completer.completions(line, len(line))]

    assert complete("%merlin dep") == ["deploy"]
    assert complete(f"%merlin project {project[:6]}") == [project]  # '-' is part of the name
    assert complete("%merlin model comp") == ["completed"]
    assert complete("%merlin deploy v") == ["v1"]
    assert complete("%merlin traffic v") == ["v1="]
    assert complete("%merlin deploy --env lo") == ["local"]
