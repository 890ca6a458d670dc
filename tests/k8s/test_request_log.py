"""KServe's request logger: the InferenceService's predictor.logger, accepted by the cluster's schemas."""
from __future__ import annotations

import pytest

from merlin_jupyter_server.errors import Conflict
from merlin_jupyter_server.services import logger_config

from .conftest import ISVC, make_environment, spec_for

SINK = "http://message-dumper.observability.svc.cluster.local/"


def logger(mode: str, rate: float = 1.0) -> dict:
    return logger_config.logger({"model": {"enabled": True, "mode": mode, "sample_rate": rate}})


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["all", "request", "response"])
async def test_a_logged_endpoint_sends_each_request_to_the_environments_sink(kube, deployer, mode):
    d = deployer(request_log_url=SINK)
    spec = spec_for(d.environment, logger=logger(mode), model=f"iris-{mode}")
    await d.deploy(spec)  # applied to the emulated API server, which checks the real CRD's schema
    isvc = kube.fake.get(ISVC, "food-recs", f"iris-{mode}-1-r1")
    assert isvc["spec"]["predictor"]["logger"] == {"mode": mode, "url": SINK}


@pytest.mark.asyncio
async def test_an_endpoint_without_a_logger_has_none(kube, deployer):
    d = deployer(request_log_url=SINK)
    disabled = logger_config.logger({"model": {"enabled": False, "mode": "all"}})
    await d.deploy(spec_for(d.environment, logger=disabled))
    assert "logger" not in kube.fake.get(ISVC, "food-recs", "iris-1-r1")["spec"]["predictor"]


@pytest.mark.asyncio
async def test_the_dry_run_shows_the_logger(deployer):
    d = deployer(request_log_url=SINK)
    text = await d.render(spec_for(d.environment, logger=logger("all")))
    assert f"logger:\n      mode: all\n      url: {SINK}" in text


def test_logging_on_an_environment_without_a_sink_is_refused_in_words():
    env = make_environment({"context": "fake"})
    with pytest.raises(Conflict) as refused:
        logger_config.check_environment(logger("all"), env)
    assert refused.value.field == "logger"
    assert "'staging' has no request log sink" in refused.value.message
    assert "Add request_log_url to that environment's settings" in refused.value.message
    logger_config.check_environment(logger_config.logger({"model": {"enabled": False}}), env)  # off: fine


def test_sampling_is_refused_on_kubernetes_where_kserve_sends_every_request():
    env = make_environment({"context": "fake", "request_log_url": SINK})
    with pytest.raises(Conflict) as refused:
        logger_config.check_environment(logger("all", 0.1), env)
    assert "sampling works on the local environment only" in refused.value.message
