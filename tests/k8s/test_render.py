"""Dry run: the manifests a deploy would apply, as YAML, with nothing applied."""

from __future__ import annotations

import pytest
import yaml

from .conftest import ISVC, spec_for

pytestmark = pytest.mark.asyncio


async def test_render_returns_the_manifests_without_applying_them(kube, deployer):
    d = deployer(runtime_image="registry.example.com/merlin-mlflow-runtime:1.0")
    text = await d.render(spec_for(d.environment))
    docs = list(yaml.safe_load_all(text))
    assert [doc["kind"] for doc in docs] == ["Namespace", "InferenceService"]
    model = docs[1]["spec"]["predictor"]["model"]
    assert model["image"] == "registry.example.com/merlin-mlflow-runtime:1.0"
    assert kube.fake.list_objects(ISVC) == []
    assert kube.fake.get("v1/namespaces", None, "food-recs") is None


async def test_render_explains_an_autoscaling_fallback(kube, deployer):
    d = deployer()
    text = await d.render(spec_for(d.environment, deployment_mode="raw_deployment"))
    assert text.startswith(
        "# note: raw_deployment scales with a HorizontalPodAutoscaler, which cannot use concurrency"
    )
    isvc = list(yaml.safe_load_all(text))[1]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/metrics"] == "cpu"


async def test_what_render_shows_is_what_the_cluster_accepts(kube, deployer):
    """Every rendered object passes the cluster's strict schema validation when applied."""
    d = deployer()
    for mode in ("serverless", "raw_deployment"):
        for metric in ("concurrency", "rps", "cpu_utilization", "memory_utilization"):
            spec = spec_for(
                d.environment, deployment_mode=mode, model=f"{mode[0]}-{metric.split('_')[0]}"
            )
            spec.autoscaling_policy.metrics_type = metric
            spec.resource_request.gpu_request = "1"
            await d.deploy(spec)
    assert len(kube.fake.list_objects(ISVC, "food-recs")) == 8
