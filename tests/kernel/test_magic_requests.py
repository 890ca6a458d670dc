"""%merlin deploy --log-requests and %merlin requests, and the SDK's Logger and requests()."""
from __future__ import annotations

import time

import pytest
from IPython.core.error import UsageError

import merlin_jupyter as mj
from tests.conftest import sklearn_model


def test_deploy_with_logging_then_see_the_requests_as_a_table(merlin, ip):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("model logged --type sklearn")
    merlin("log clf --sample X_test[:3]")
    endpoint = merlin("deploy --env local --no-check --log-requests request --log-sample 1")
    assert endpoint.logger == {"model": {"enabled": True, "mode": "request", "sample_rate": 1.0}}
    for rows in (1, 2, 3):
        merlin(f"predict X_test[:{rows}]")
    deadline = time.monotonic() + 20
    table = merlin("requests v1 --last 2")
    while len(table) < 2 and time.monotonic() < deadline:
        time.sleep(0.3)
        table = merlin("requests v1 --last 2")
    assert list(table["request"]) == [{"instances": sample[:3].tolist()}, {"instances": sample[:2].tolist()}]
    assert table["response"].isna().all()  # mode request: responses are not kept
    assert set(table["status"]) == {200} and str(table["time"].dtype).startswith("datetime64")
    assert len(endpoint.requests(since="1h")) == 3
    assert len(endpoint.requests(status="error")) == 0


def test_the_sdk_speaks_merlins_logger_names():
    logger = mj.Logger(model=mj.LoggerConfig(enabled=True, mode=mj.LoggerMode.RESPONSE, sample_rate=0.5))
    assert logger.to_api() == {"model": {"enabled": True, "mode": "response", "sample_rate": 0.5}}
    assert mj.Logger.from_api(logger.to_api()).model.mode is mj.LoggerMode.RESPONSE


def test_requests_of_an_endpoint_that_does_not_log_say_how_to_log(merlin, ip):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("model quiet --type sklearn")
    merlin("log clf --sample X_test[:3]")
    merlin("deploy --env local --no-check")
    with pytest.raises(UsageError, match="does not log requests: deploy it with `%merlin deploy 1 --log-requests all`"):
        merlin("requests")


@pytest.mark.parametrize("line,words", [
    ("deploy --log-requests everything", "invalid choice: 'everything'"),
    ("deploy --log-sample 2", "--log-sample 2: give the share of predictions to log"),
    ("requests --last 0", "--last 0: give how many requests to show"),
])
def test_logging_mistakes_say_what_to_type(merlin, line, words):
    merlin("model mistaken --type sklearn")
    with pytest.raises(UsageError, match=words):
        merlin(line)


def test_tab_completes_the_version_and_the_logging_mode():
    from merlin_jupyter.completion import candidates

    def lookup(kind: str) -> list[str]:
        return {"versions": ["v1", "v2"]}.get(kind, [])

    assert candidates("%merlin requests ", lookup) == ["v1", "v2"]
    assert candidates("%merlin deploy --log-requests ", lookup) == ["all", "request", "response"]
    assert "requests" in candidates("%merlin ", lookup)
