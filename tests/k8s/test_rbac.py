"""The ClusterRole in deploy/ grants every call the deployer makes, so a cluster set up with it
never answers "forbidden" to a deploy, a route, their logs or an undeploy."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from kubernetes import client
from kubernetes.utils import create_from_yaml

from .conftest import spec_for
from .test_deploy import wait_state
from .test_routing import destination, route_spec

RBAC = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "kserve" / "control-plane-rbac.yaml"
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def rbac_verb(request) -> str:
    if request.method.value == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    return VERBS[request.method.value]


def allowed(rules, group: str, resource: str, verb: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules
    )


def test_the_manifest_is_accepted_by_the_cluster(kube_api_client, kube):
    create_from_yaml(kube_api_client, str(RBAC))
    role = client.RbacAuthorizationV1Api(kube_api_client).read_cluster_role(
        "merlin-jupyter-control-plane"
    )
    assert role.rules


@pytest.mark.asyncio
async def test_every_call_of_a_deploy_route_and_undeploy_is_granted(
    kube, kserve_controller, deployer
):
    d = deployer()
    spec = spec_for(d.environment)
    started = await d.deploy(spec)
    await wait_state(d, spec, started.handle, "ready")
    await d.logs(spec, started.handle)
    [_ async for _ in d.follow_logs(spec, started.handle)]
    route = route_spec(d.environment, [destination(1, 100)])
    await d.route(route)
    await d.route(route)
    await d.check()
    await d.unroute(route)
    await d.undeploy(spec, started.handle)
    rules = next(
        doc for doc in yaml.safe_load_all(RBAC.read_text()) if doc["kind"] == "ClusterRole"
    )["rules"]
    missing = set()
    for request in kube.fake._requests:  # kmock's request log (the kit pins kmock 0.8)
        if request.resource is None:
            continue  # /version and discovery: granted to every authenticated user
        resource = request.resource.plural + (
            f"/{request.subresource}" if request.subresource else ""
        )
        verb = rbac_verb(request)
        if not allowed(rules, request.resource.group, resource, verb):
            missing.add((request.resource.group, resource, verb))
    assert not missing
