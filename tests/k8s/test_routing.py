"""Model endpoints: one Istio VirtualService per model, with the rule's weights and mirror."""

from __future__ import annotations

import pytest
from merlin_jupyter_server.deployers.base import RouteDestination, RouteSpec
from merlin_jupyter_server.errors import DeploymentError

from .conftest import VS

pytestmark = pytest.mark.asyncio


def destination(version: int, weight: int, mode: str = "serverless") -> RouteDestination:
    handle = {"namespace": "food-recs", "name": f"iris-{version}-r1", "mode": mode}
    return RouteDestination(
        endpoint_id=f"ep-{version}",
        weight=weight,
        handle=handle,
        url=f"http://iris-{version}-r1.food-recs.example.com/v1/models/iris-{version}:predict",
        model_name=f"iris-{version}",
        version=version,
    )


def route_spec(environment, destinations, mirror=None) -> RouteSpec:
    return RouteSpec(
        model_endpoint_id=7,
        project="food-recs",
        model="iris",
        environment=environment,
        destinations=destinations,
        mirror=mirror,
    )


def routes_by_name(vs):
    return {r["name"]: r for r in vs["spec"]["http"]}


async def test_traffic_split_and_mirror_become_one_virtual_service(kube, deployer):
    d = deployer()
    url = await d.route(
        route_spec(
            d.environment, [destination(1, 90), destination(2, 10)], mirror=destination(3, 0)
        )
    )
    assert url == "http://iris.food-recs.models.example.com"

    vs = kube.fake.get(VS, "food-recs", "iris")
    assert vs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "merlin-jupyter"
    assert vs["spec"]["hosts"][0] == "iris.food-recs.models.example.com"
    routes = routes_by_name(vs)
    split = routes["split"]
    assert split["match"][0]["uri"] == {"prefix": "/v1/predict"}
    assert [
        (r["weight"], r["headers"]["request"]["set"]["x-merlin-version"]) for r in split["route"]
    ] == [(90, "1"), (10, "2")]
    assert split["mirrorPercentage"] == {"value": 100.0}
    for version in (1, 2):
        to = routes[f"version-{version}"]
        assert to["match"][0]["headers"] == {"x-merlin-version": {"exact": str(version)}}
        assert to["rewrite"] == {
            "uri": f"/v1/models/iris-{version}:predict",
            "authority": f"iris-{version}-r1-predictor.food-recs.svc.cluster.local",
        }
    assert routes["mirror"]["rewrite"]["uri"] == "/v1/models/iris-3:predict"
    assert routes["mirror"]["match"][0]["authority"] == {
        "exact": "iris.food-recs.models.example.com-shadow"
    }


async def test_changing_the_rule_replaces_the_virtual_service(kube, deployer):
    d = deployer()
    await d.route(route_spec(d.environment, [destination(1, 100)]))
    await d.route(route_spec(d.environment, [destination(2, 100, mode="raw_deployment")]))
    vs = kube.fake.get(VS, "food-recs", "iris")
    assert vs["metadata"]["generation"] == 2
    # One version, no mirror: a single route, straight from the ingress gateway.
    assert vs["spec"]["hosts"] == ["iris.food-recs.models.example.com"]
    [only] = vs["spec"]["http"]
    assert only["name"] == "version-2" and only["match"][0]["uri"] == {"prefix": "/v1/predict"}
    assert only["match"][0]["gateways"] == ["knative-serving/knative-ingress-gateway"]
    assert only["rewrite"]["uri"] == "/v1/models/iris-2:predict"
    # A raw deployment is a plain Service: no hop through Knative's local gateway.
    target = "iris-2-r1-predictor.food-recs.svc.cluster.local"
    assert only["route"] == [{"destination": {"host": target}}]


async def test_unroute_deletes_only_the_virtual_service_and_is_idempotent(kube, deployer):
    d = deployer()
    spec = route_spec(d.environment, [destination(1, 100)])
    await d.route(spec)
    await d.unroute(spec)
    await d.unroute(spec)
    assert kube.fake.get(VS, "food-recs", "iris") is None
    assert kube.fake.get("v1/namespaces", None, "food-recs") is not None


async def test_an_environment_without_a_domain_cannot_route(kube, deployer):
    d = deployer(domain="")
    with pytest.raises(DeploymentError, match="no 'domain'"):
        await d.route(route_spec(d.environment, [destination(1, 100)]))


async def test_an_unreachable_cluster_leaves_the_rule_to_be_retried(deployer, tmp_path, free_port):
    from kube_plugin import write_kubeconfig
    from merlin_jupyter_server.errors import Unavailable

    down = write_kubeconfig(f"http://127.0.0.1:{free_port()}", tmp_path / "down.kubeconfig")
    d = deployer(kubeconfig=str(down))
    spec = route_spec(d.environment, [destination(1, 100)])
    # Unavailable, not a failure: the control plane keeps the model endpoint pending and retries.
    with pytest.raises(Unavailable, match="Cannot reach .*will retry"):
        await d.route(spec)
    with pytest.raises(Unavailable, match="Cannot reach"):
        await d.unroute(spec)
