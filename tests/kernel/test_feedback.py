"""What a person sees: the deploy progress widget, tables, following logs, failures in words."""
from __future__ import annotations

import time

import pytest
from IPython.core.error import UsageError

import merlin_jupyter as sdk
from merlin_jupyter.progress import DeployProgress
from tests.conftest import sklearn_model


def test_progress_lists_states_with_times_then_url_and_snippets():
    progress = DeployProgress("Version 1 → local", widget=True)
    progress.update("pending", "starting the model server", 0.0)
    progress.update("pending", "the model is loading", 0.4)
    progress.succeeded("running", "http://127.0.0.1:9/v1/models/m-1:predict", [[1.0, 2.0]], 0.9)
    shown = progress._view.value
    assert shown.index("starting the model server") < shown.index("the model is loading") < shown.index("0.9 s</td>")
    assert "curl -s -X POST http://127.0.0.1:9/v1/models/m-1:predict" in shown
    assert "httpx.post(" in shown and "[[1.0, 2.0]]" in shown
    text = progress.text()  # what replaces the widget when it is done: saved, and readable as text
    assert "0.4 s  pending   the model is loading" in text and "curl -s -X POST" in text


def test_settings_not_enforced_here_are_named_in_the_deploy_output(capsys):
    note = "memory_request 512Mi and cpu_request 500m: not enforced here (not root)"
    progress = DeployProgress("Version 1 → local", widget=True)
    progress.succeeded("running", "http://h/v1/models/m-1:predict", None, 0.5, [note])
    assert f"Not enforced here: {note}" in progress._view.value
    assert f"Not enforced here: {note}" in progress.text()
    plain = DeployProgress("Version 1 → local", widget=False)
    plain.succeeded("running", "http://h/v1/models/m-1:predict", None, 0.5, [note])
    assert f"Not enforced here: {note}" in capsys.readouterr().err


def test_a_failure_shows_the_reason_and_log_lines():
    progress = DeployProgress("Version 1 → local", widget=True)
    progress.failed("The model server exited with code 2.", ["loading", "RuntimeError: corrupt"], 2.0)
    assert "exited with code 2" in progress._view.value and "RuntimeError: corrupt" in progress._view.value


def test_plain_lines_outside_a_notebook(capsys):
    progress = DeployProgress("Version 1 → local", widget=False)
    progress.update("pending", "starting", 0.0)
    progress.update("pending", "starting", 0.1)  # unchanged: not repeated
    progress.succeeded("running", "http://h/v1/models/m-1:predict", None, 0.5)
    err = capsys.readouterr().err
    assert err.count("starting") == 1 and "running at http://h/v1/models/m-1:predict" in err and "curl" in err


def test_ls_status_and_logs_follow(ip, merlin, capsys):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("model tables --type sklearn")
    merlin("log clf --sample X_test[:3]")
    versions = merlin("ls")
    assert "<table>" in versions._repr_html_() and repr(versions).splitlines()[0].startswith("id")
    endpoint = merlin("deploy v1 --env local --no-wait --no-check")
    assert endpoint.status == "pending"  # returned at once
    status = merlin("status v1")
    assert "<th style='text-align:left'>status</th>" in status._repr_html_()

    from merlin_jupyter.logview import LogView

    view = LogView(sdk.follow_logs(1, tail=5), "logs of v1").start()  # what a notebook shows
    deadline = time.monotonic() + 60
    while not view.output.outputs:
        assert time.monotonic() < deadline, "no log line arrived"
        time.sleep(0.1)
    view.stop()
    assert view.button.disabled and "stopped" in view.status.value
    merlin("undeploy v1")


def test_a_model_that_fails_to_load_says_why_without_a_traceback(ip, merlin):
    import mlflow.pyfunc

    class Corrupt(mlflow.pyfunc.PythonModel):  # local: pickled by value, so the server can unpickle it
        def load_context(self, context):
            raise RuntimeError("the weights file is corrupt")

        def predict(self, context, model_input):
            return model_input

    merlin("model corrupt")
    with sdk.new_model_version() as version:  # plain MLflow, as other clients log: no check here
        mlflow.pyfunc.log_model(name="model", python_model=Corrupt(), pip_requirements=["mlflow"])
    with pytest.raises(UsageError) as failure:
        merlin(f"deploy v{version.id} --env local --no-check")  # the server's own failure, not the kernel's check
    message = str(failure.value)
    assert "failed: The model server exited" in message and "the weights file is corrupt" in message
    assert "Last log lines:" in message and f"%merlin logs {version.id}" in message


def test_following_logs_outside_a_notebook_prints_lines_until_the_stream_ends(capsys):
    from merlin_jupyter.logview import follow

    class Stream:  # stands for merlin.follow_logs(...): an iterable with close()
        closed = False

        def __iter__(self):
            yield from ["first line", "second line"]

        def close(self):
            self.closed = True

    stream = Stream()
    assert follow(stream, "logs of v1") is None
    assert capsys.readouterr().out == "first line\nsecond line\n" and stream.closed
