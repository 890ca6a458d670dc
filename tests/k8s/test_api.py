"""Kubernetes environments through the REST API of a real control plane process.

The environment is configured as a user configures it: a jupyter_server_config.json naming the
kubeconfig file and context, the ingress domain and the S3-compatible artifact store. The
cluster is the shared emulator with its KServe stand-in; the store is moto's S3 on 127.0.0.1.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
import yaml
from kube_plugin import write_kubeconfig

from tests.conftest import ControlPlaneProcess, log_version, unique

from .conftest import ISVC, VS


@pytest.fixture
def cluster_control_plane(
    tmp_path, kube, kserve_controller, kube_config_file, s3_endpoint, free_port
):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    kube.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shared-ns"}})
    staging = {
        "name": "staging",
        "kubeconfig": str(kube_config_file),
        "context": "fake",
        "domain": "models.example.com",
        "deployment_mode": "serverless",
        "default_resource_request": {
            "min_replica": 0,
            "max_replica": 2,
            "cpu_request": "250m",
            "memory_request": "256Mi",
        },
        "artifact_store": {"uri": "s3://models/merlin", "endpoint_url": s3_endpoint},
    }
    bare = {
        "name": "bare",
        "kubeconfig": str(kube_config_file),
        "context": "fake",
        "domain": "models.example.com",
    }
    down_config = write_kubeconfig(f"http://127.0.0.1:{free_port()}", tmp_path / "down.kubeconfig")
    down = {"name": "down", "kubeconfig": str(down_config), "context": "fake"}
    config = {"MerlinApp": {"environments": [staging, bare, down]}}
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(config))
    cp = ControlPlaneProcess(home).start()
    yield cp
    cp.stop()


def wait_for(get, predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


RAW_CPU = {
    "environment_name": "staging",
    "deployment_mode": "raw_deployment",
    "autoscaling_policy": {"metrics_type": "cpu_utilization", "target_value": 70},
}


@pytest.mark.timeout(240)
def test_deploy_route_and_undeploy_on_a_cluster_through_the_api(cluster_control_plane, kube):
    cp = cluster_control_plane
    api = cp.client()
    _, envs = api.get("/environments")
    by_name = {e["name"]: e for e in envs}
    assert by_name["staging"]["reachable"] is True, by_name["staging"]["reachable_message"]
    assert by_name["down"]["reachable"] is False
    assert "Cannot reach" in by_name["down"]["reachable_message"]
    _, project = api.post("/projects", json={"name": unique("recs")})
    path = f"/projects/{project['id']}/models"
    _, model = api.post(path, json={"name": "iris", "type": "sklearn"})
    log_version(cp, api, model["id"])
    log_version(cp, api, model["id"])  # version 2 takes the refused deploy: revisions count per version
    mid, ns = model["id"], project["name"]

    refused_without_artifact_store(api, mid)
    dry_run_applies_nothing(api, kube, mid, ns)
    endpoint_id = deploy_copies_the_model_and_becomes_ready(cp, api, kube, mid, ns)
    redeploy_replaces_the_revision_once_the_new_one_is_ready(api, kube, mid, ns, endpoint_id)
    model_endpoint_id = serve_traffic_creates_a_virtual_service(api, kube, mid, ns, endpoint_id)
    undeploy_deletes_only_what_was_created(api, kube, mid, ns, endpoint_id, model_endpoint_id)


def refused_without_artifact_store(api, mid):
    """An environment without an artifact store cannot take a model from this machine's disk."""
    status, refused = api.post(
        f"/models/{mid}/versions/2/endpoint", json={"environment_name": "bare"}
    )
    assert status == 201, refused
    refused = api.wait_endpoint(mid, 2, refused["id"], timeout=60)
    assert refused["status"] == "failed"
    assert "artifact store" in refused["message"] and "'bare'" in refused["message"]


def dry_run_applies_nothing(api, kube, mid, ns):
    status, dry = api.post(f"/models/{mid}/versions/1/endpoint?dry_run=true", json=RAW_CPU)
    assert status == 200, dry
    docs = [d for d in yaml.safe_load_all(dry["manifests"]) if d]
    isvc = next(d for d in docs if d["kind"] == "InferenceService")
    assert isvc["metadata"]["name"] == "iris-1-r1"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    uri = isvc["spec"]["predictor"]["model"]["storageUri"]
    assert uri.startswith(f"s3://models/merlin/{ns}/iris/1/")
    assert kube.fake.list_objects(ISVC) == []


def deploy_copies_the_model_and_becomes_ready(cp, api, kube, mid, ns) -> str:
    status, created = api.post(f"/models/{mid}/versions/1/endpoint", json=RAW_CPU)
    assert status == 201 and created["status"] == "pending", created
    endpoint = api.wait_endpoint(mid, 1, created["id"], timeout=60)
    assert endpoint["status"] == "running", endpoint["message"]
    assert endpoint["url"] == f"http://iris-1-r1.{ns}.example.com/v1/models/iris-1:predict"
    applied = kube.fake.get(ISVC, ns, "iris-1-r1")
    assert applied["spec"]["predictor"]["scaleTarget"] == 70
    prefix = applied["spec"]["predictor"]["model"]["storageUri"].removeprefix("s3://models/")
    s3 = boto3.client("s3", endpoint_url=cp_endpoint(cp))
    listing = s3.list_objects_v2(Bucket="models", Prefix=prefix + "/")
    assert any(o["Key"].endswith("/MLmodel") for o in listing["Contents"])
    status, logs = api.get(f"/models/{mid}/versions/1/endpoint/{created['id']}/logs?tail=5")
    assert status == 200 and "INFO model loaded" in json.dumps(logs)
    return created["id"]


def redeploy_replaces_the_revision_once_the_new_one_is_ready(api, kube, mid, ns, endpoint_id):
    path = f"/models/{mid}/versions/1/endpoint/{endpoint_id}"
    status, body = api.put(path, json={"resource_request": {"cpu_request": "1"}})
    assert status == 200, body
    assert kube.fake.get(ISVC, ns, "iris-1-r1") is not None  # still serving meanwhile
    endpoint = wait_for(lambda: api.get(path)[1], lambda e: e["url"] and "-r2." in e["url"])
    assert endpoint["status"] == "running" and endpoint["revision"] == 2, endpoint
    wait_for(lambda: kube.fake.get(ISVC, ns, "iris-1-r1"), lambda o: o is None, timeout=30)
    isvc = kube.fake.get(ISVC, ns, "iris-1-r2")
    assert isvc["spec"]["predictor"]["model"]["resources"]["requests"]["cpu"] == "1"


def serve_traffic_creates_a_virtual_service(api, kube, mid, ns, endpoint_id) -> int:
    rule = {"destinations": [{"version_endpoint_id": endpoint_id, "weight": 100}]}
    status, me = api.post(
        f"/models/{mid}/endpoints", json={"environment_name": "staging", "rule": rule}
    )
    assert status == 201, me
    me = wait_for(
        lambda: api.get(f"/models/{mid}/endpoints/{me['id']}")[1],
        lambda m: m["status"] != "pending",
    )
    assert me["status"] == "serving", me
    assert me["url"].startswith(f"http://iris.{ns}.models.example.com")
    vs = kube.fake.get(VS, ns, "iris")
    version_route = next(r for r in vs["spec"]["http"] if r["name"] == "version-1")
    assert version_route["rewrite"]["authority"] == f"iris-1-r2-predictor.{ns}.svc.cluster.local"
    return me["id"]


def undeploy_deletes_only_what_was_created(api, kube, mid, ns, endpoint_id, model_endpoint_id):
    """Refused while serving; after traffic stops, only the objects it created are deleted."""
    assert api.delete(f"/models/{mid}/versions/1/endpoint/{endpoint_id}")[0] == 409
    assert api.delete(f"/models/{mid}/endpoints/{model_endpoint_id}")[0] in (200, 204)
    wait_for(lambda: kube.fake.get(VS, ns, "iris"), lambda v: v is None, timeout=30)
    status, gone = api.delete(f"/models/{mid}/versions/1/endpoint/{endpoint_id}")
    assert status == 200 and gone["status"] == "terminated", gone
    assert kube.fake.list_objects(ISVC, ns) == []
    assert kube.fake.get("v1/namespaces", None, ns) is not None
    assert kube.fake.get("v1/namespaces", None, "shared-ns") is not None


def cp_endpoint(cp) -> str:
    config = json.loads((cp.home / "config" / "jupyter_server_config.json").read_text())
    return config["MerlinApp"]["environments"][0]["artifact_store"]["endpoint_url"]
