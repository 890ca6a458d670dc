"""A failed read of an InferenceService is not its absence: only a 404 means "gone".

"gone" makes the control plane deploy the endpoint again (a new InferenceService, a cold start,
a restarted model server), so an API server that is overloaded (429, 500), refuses us for a
while (403 after an RBAC change) or is slow must leave the endpoint as it was."""

from __future__ import annotations

import asyncio
import threading

import pytest

from .conftest import ISVC, spec_for
from .test_deploy import wait_state

pytestmark = pytest.mark.asyncio


def reads_fail_while(kube, armed: threading.Event, reaction) -> None:
    """While ``armed`` is set, reads of the InferenceService get ``reaction`` (a status code and
    body, or a delay) instead of the object."""
    def react(f):
        view = f["get", f.resource(ISVC), (lambda r: r.name is not None), armed]
        for step in reaction:
            view = view << step
    kube.in_loop(react, kube.fake)


def status_body(code: int) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": f"injected {code}", "reason": "InternalError", "code": code}


async def ready_endpoint(kube, deployer, **overrides):
    d = deployer(**overrides)
    spec = spec_for(d.environment)
    started = await d.deploy(spec)
    assert (await wait_state(d, spec, started.handle, "ready", "failed")).state == "ready"
    return d, spec, started.handle


@pytest.mark.parametrize("code", [500, 403, 429, 503])
async def test_a_failed_read_is_not_gone(kube, kserve_controller, deployer, code):
    d, spec, handle = await ready_endpoint(kube, deployer)
    armed = threading.Event()
    reads_fail_while(kube, armed, [code, status_body(code)])
    armed.set()
    status = await d.status(spec, handle)
    armed.clear()
    assert status.state == "pending", status
    assert f"answered {code}" in status.message or "permission denied" in status.message, status
    assert "Will retry" in status.message
    # The next read is answered again: the endpoint is what it was, and was never replaced.
    await asyncio.sleep(0.15)  # past status_interval, which spaces out reads of a pending one
    assert (await d.status(spec, handle)).state == "ready"
    assert kube.fake.get(ISVC, "food-recs", "iris-1-r1")["metadata"]["generation"] == 1


async def test_a_read_that_times_out_is_not_gone(kube, kserve_controller, deployer):
    d, spec, handle = await ready_endpoint(kube, deployer)
    # Short only for the read under test: the deploy before it, on a loaded machine, once took
    # longer than half a second for a call and never became ready.
    d.cluster.timeout = 0.5
    armed = threading.Event()

    async def slow(request):
        await asyncio.sleep(1.5)
        return 200

    reads_fail_while(kube, armed, [slow])
    armed.set()
    status = await d.status(spec, handle)
    armed.clear()
    assert status.state == "pending" and "Cannot reach" in status.message, status


async def test_a_404_that_is_not_the_api_servers_not_found_is_not_gone(
    kube, kserve_controller, deployer
):
    """A proxy or gateway in front of the API server answering its own 404 page."""
    d, spec, handle = await ready_endpoint(kube, deployer)
    armed = threading.Event()
    reads_fail_while(kube, armed, [404, b"404 page not found"])
    armed.set()
    status = await d.status(spec, handle)
    armed.clear()
    assert status.state == "pending" and "answered 404" in status.message, status


async def test_an_inference_service_that_was_deleted_is_gone(kube, kserve_controller, deployer):
    d, spec, handle = await ready_endpoint(kube, deployer)
    await d.cluster.delete(("serving.kserve.io", "v1beta1", "inferenceservices"), "food-recs",
                           "iris-1-r1")
    assert (await d.status(spec, handle)).state == "gone"
