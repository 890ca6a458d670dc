"""%merlin driven through a real IPython shell against a real control plane."""
from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from tests.conftest import sklearn_model, unique


def test_log_deploy_predict_undeploy_in_four_lines(ip, control_plane, capsys):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    ip.run_line_magic("merlin", f"connect {control_plane.url} --token {control_plane.token}")
    ip.run_line_magic("merlin", f"project {unique('magic')}")
    ip.run_line_magic("merlin", "model churn --type sklearn")
    version = ip.run_line_magic("merlin", "log clf --sample X_test[:3] --param C=1.0 --metric accuracy=0.9")
    assert version.id == 1
    endpoint = ip.run_line_magic("merlin", "deploy --env local --env-var LOG_LEVEL=debug")
    assert endpoint.status == "running"
    assert ip.run_line_magic("merlin", "predict X_test[:2]") == clf.predict(sample[:2]).tolist()
    assert [e.status for e in ip.run_line_magic("merlin", "status")] == ["running"]
    ip.run_line_magic("merlin", "logs --tail 5")
    assert ip.run_line_magic("merlin", "undeploy") == "undeployed"
    assert [v.id for v in ip.run_line_magic("merlin", "ls")] == [1]


@pytest.mark.parametrize("line,words", [
    ("frobnicate", "Unknown subcommand 'frobnicate'"),
    ("log no_such_variable", "No variable 'no_such_variable'"),
    ("deploy --env-var JUSTAKEY", "KEY=VALUE"),
    ("deploy --min-replica lots", "invalid int value"),
    ("project Bad_Name", "lowercase"),
])
def test_mistakes_are_usage_errors_that_say_what_to_type(ip, control_plane, line, words):
    ip.run_line_magic("merlin", f"connect {control_plane.url} --token {control_plane.token}")
    ip.run_line_magic("merlin", f"project {unique('magic')}")
    ip.run_line_magic("merlin", "model mistakes --type sklearn")
    with pytest.raises(UsageError, match=words):
        ip.run_line_magic("merlin", line)


def test_help_lists_every_subcommand(ip, capsys):
    ip.run_line_magic("merlin", "--help")
    out = capsys.readouterr().out
    for name in ("connect", "project", "model", "log", "deploy", "status", "logs", "predict", "undeploy", "ls"):
        assert f"  {name} " in out
