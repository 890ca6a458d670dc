"""Deploy, observe, redeploy and undeploy version endpoints on the emulated cluster."""

from __future__ import annotations

import asyncio

import pytest
from merlin_jupyter_server.errors import DeploymentError

from .conftest import ISVC, spec_for

pytestmark = pytest.mark.asyncio


# Generous: the emulated controller is a task of its own, and a loaded CI machine runs it late.
# A wait that ends as soon as the state is seen costs nothing when the machine is quick.
async def wait_state(deployer, spec, handle, *states, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await deployer.status(spec, handle)
        if status.state in states or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.05)


async def test_serverless_deploy_becomes_ready_with_its_predict_url(
    kube, kserve_controller, deployer
):
    d = deployer()
    spec = spec_for(d.environment)
    started = await d.deploy(spec)
    assert started.state == "pending"
    assert started.handle["namespace"] == "food-recs" and started.handle["name"] == "iris-1-r1"

    ns = kube.fake.get("v1/namespaces", None, "food-recs")
    assert ns["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "merlin-jupyter"
    isvc = kube.fake.get(ISVC, "food-recs", "iris-1-r1")
    meta, predictor = isvc["metadata"], isvc["spec"]["predictor"]
    assert meta["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert meta["annotations"]["autoscaling.knative.dev/metric"] == "concurrency"
    assert meta["annotations"]["autoscaling.knative.dev/target"] == "2"
    assert predictor["minReplicas"] == 0 and predictor["maxReplicas"] == 2
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "mlflow"} and model["runtime"] == "merlin-mlflow"
    assert model["storageUri"] == "s3://mlflow/1/abc/artifacts/model"
    assert model["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert {"name": "LOG_LEVEL", "value": "debug"} in model["env"]

    ready = await wait_state(d, spec, started.handle, "ready", "failed")
    assert ready.state == "ready"
    assert ready.url == "http://iris-1-r1.food-recs.example.com/v1/models/iris-1:predict"
    assert (await d.logs(spec, started.handle))[-1] == "INFO model loaded"
    followed = [line async for line in d.follow_logs(spec, started.handle, tail=2)]
    assert followed == ["INFO starting 5", "INFO model loaded"]


async def test_raw_deployment_scales_with_an_hpa_and_never_to_zero(
    kube, kserve_controller, deployer
):
    d = deployer()
    spec = spec_for(d.environment, deployment_mode="raw_deployment")
    spec.autoscaling_policy.metrics_type, spec.autoscaling_policy.target_value = (
        "cpu_utilization",
        60,
    )
    await d.deploy(spec)
    isvc = kube.fake.get(ISVC, "food-recs", "iris-1-r1")
    annotations, predictor = isvc["metadata"]["annotations"], isvc["spec"]["predictor"]
    assert annotations["serving.kserve.io/deploymentMode"] == "RawDeployment"
    assert annotations["serving.kserve.io/autoscalerClass"] == "hpa"
    assert annotations["serving.kserve.io/targetUtilizationPercentage"] == "60"
    assert (predictor["scaleMetric"], predictor["scaleTarget"], predictor["minReplicas"]) == (
        "cpu",
        60,
        1,
    )


def predictor_pod(isvc: dict, restarts: int) -> dict:
    name = isvc["metadata"]["name"]
    owner = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "name": name,
        "uid": isvc["metadata"]["uid"],
        "controller": True,
    }
    labels = {"serving.kserve.io/inferenceservice": name, "component": "predictor"}
    containers = [
        {"name": "kserve-container", "image": "merlin-mlflow"},
        {"name": "queue-proxy", "image": "queue-proxy"},
    ]
    status = {"containerStatuses": [crash_loop("kserve-container", restarts)]} if restarts else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{name}-predictor-00001-deployment-5d8f7",
            "namespace": "food-recs",
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": {"containers": containers},
        "status": status,
    }


def crashed_predictor(kube, isvc_name: str, restarts: int = 0) -> None:
    """What a cluster shows next to a failing model server: a predictor pod, its logs, events."""
    pod = kube.fake.seed(predictor_pod(kube.fake.get(ISVC, "food-recs", isvc_name), restarts))
    name = pod["metadata"]["name"]
    kube.fake.pod_logs[("food-recs", name, "kserve-container")] = (
        "INFO installing requirements\nERROR merlin-serving: failed: No module named 'xgboost'\n"
    )
    kube.fake.seed(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.1", "namespace": "food-recs"},
            "involvedObject": {"kind": "Pod", "name": name, "namespace": "food-recs"},
            "reason": "BackOff",
            "type": "Warning",
            "message": "Back-off restarting failed container",
            "lastTimestamp": "2026-01-01T00:00:00Z",
        }
    )


def crash_loop(container: str, restarts: int) -> dict:
    return {
        "name": container,
        "ready": False,
        "restartCount": restarts,
        "image": "merlin-mlflow",
        "imageID": "",
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 40s restarting failed container",
            }
        },
    }


async def test_a_crash_looping_model_server_fails_before_the_timeout(kube, deployer):
    """Raw deployments report a crash loop late or never: the pod tells sooner."""
    d = deployer(pending_timeout=600)
    spec = spec_for(d.environment, deployment_mode="raw_deployment")
    started = await d.deploy(spec)
    crashed_predictor(kube, "iris-1-r1", restarts=1)
    assert (await d.status(spec, started.handle)).state == "pending"  # may still come up
    pod = "iris-1-r1-predictor-00001-deployment-5d8f7"
    kube.fake.patch_status(
        "v1/pods", "food-recs", pod, {"containerStatuses": [crash_loop("kserve-container", 3)]}
    )
    failed = await wait_state(d, spec, started.handle, "failed")
    assert failed.state == "failed"
    assert "cannot start" in failed.message and "CrashLoopBackOff" in failed.message
    assert "ERROR merlin-serving: failed: No module named 'xgboost'" in failed.logs


async def test_a_model_that_fails_to_load_fails_with_the_condition_message_and_logs(
    kube, kserve_controller, deployer
):
    d = deployer()
    spec = spec_for(d.environment, model_location="bad://bucket/model")
    started = await d.deploy(spec)
    crashed_predictor(kube, "iris-1-r1")
    failed = await wait_state(d, spec, started.handle, "ready", "failed")
    assert failed.state == "failed"
    assert "ModelLoadFailed" in failed.message and "cannot download model" in failed.message
    assert "ERROR merlin-serving: failed: No module named 'xgboost'" in failed.logs
    assert any("Warning BackOff pod/iris-1-r1-predictor" in line for line in failed.logs)


async def test_stuck_pending_fails_after_the_timeout_with_what_was_last_seen(
    kube, kserve_controller, deployer
):
    # Long enough that a loaded CI machine still sees it pending first, short enough to wait out.
    d = deployer(pending_timeout=3)
    spec = spec_for(d.environment, model_location="never://bucket/model")
    started = await d.deploy(spec)
    kube.fake.patch_status(
        ISVC,
        "food-recs",
        "iris-1-r1",
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "PredictorNotReady",
                    "message": "0/1 pods available",
                }
            ]
        },
    )
    assert (await d.status(spec, started.handle)).state == "pending"
    failed = await wait_state(d, spec, started.handle, "failed")
    assert failed.state == "failed"
    assert "did not become ready within 3 s" in failed.message
    assert "0/1 pods available" in failed.message


async def test_redeploy_keeps_the_old_revision_until_it_is_undeployed(
    kube, kserve_controller, deployer
):
    d = deployer()
    first = spec_for(d.environment)
    one = await d.deploy(first)
    second = spec_for(d.environment, revision=2, resource_request=first.resource_request)
    two = await d.deploy(second)
    assert {o["metadata"]["name"] for o in kube.fake.list_objects(ISVC, "food-recs")} == {
        "iris-1-r1",
        "iris-1-r2",
    }
    assert (await wait_state(d, second, two.handle, "ready")).state == "ready"
    await d.undeploy(first, one.handle)
    await d.undeploy(first, one.handle)  # idempotent
    assert [o["metadata"]["name"] for o in kube.fake.list_objects(ISVC, "food-recs")] == [
        "iris-1-r2"
    ]
    assert (await d.status(first, one.handle)).state == "gone"
    assert kube.fake.get("v1/namespaces", None, "food-recs") is not None  # the namespace stays


async def test_a_retried_deploy_adopts_its_own_inference_service(kube, deployer):
    d = deployer()
    spec = spec_for(d.environment)
    await d.deploy(spec)
    again = await d.deploy(spec)
    assert again.state == "pending"
    assert len(kube.fake.list_objects(ISVC, "food-recs")) == 1


async def test_a_name_taken_by_another_endpoint_is_a_conflict_in_words(kube, deployer):
    d = deployer()
    await d.deploy(spec_for(d.environment))
    other = spec_for(d.environment, endpoint_id="0b9d4f4e-5d4c-4e0e-9a59-3a1f1f6f2b22")
    with pytest.raises(DeploymentError) as err:
        await d.deploy(other)
    assert "already exists" in err.value.message and "6f1c8a52" in err.value.message


async def test_local_artifacts_without_a_store_are_refused_with_what_to_configure(
    kube, deployer, tmp_path
):
    d = deployer()
    spec = spec_for(d.environment, artifact_uri=f"file://{tmp_path}/artifacts")
    with pytest.raises(DeploymentError) as err:
        await d.deploy(spec)
    assert "artifact_store" in err.value.message and "staging" in err.value.message
    assert kube.fake.list_objects(ISVC) == []


async def test_secrets_are_passed_by_reference(kube, deployer):
    d = deployer()
    spec = spec_for(
        d.environment, env_vars=[{"name": "API_KEY", "value": "secret:model-keys/api-key"}]
    )
    await d.deploy(spec)
    env = kube.fake.get(ISVC, "food-recs", "iris-1-r1")["spec"]["predictor"]["model"]["env"]
    assert {
        "name": "API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "model-keys", "key": "api-key"}},
    } in env


async def test_more_replicas_than_the_environment_allows_is_refused(kube, deployer):
    d = deployer(max_replica=1)
    with pytest.raises(DeploymentError, match="limit of 1"):
        await d.deploy(spec_for(d.environment))


async def test_a_pending_endpoint_is_asked_about_at_most_once_per_interval(kube, deployer):
    d = deployer(status_interval=30)
    spec = spec_for(d.environment)
    started = await d.deploy(spec)

    def reads() -> int:
        return sum(
            1 for r in kube.fake._requests if r.method.value == "GET" and r.name == "iris-1-r1"
        )

    for _ in range(5):
        assert (await d.status(spec, started.handle)).state == "pending"
    assert reads() == 1
