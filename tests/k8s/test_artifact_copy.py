"""Local model files are copied once to the environment's S3-compatible store (a real S3 API
served by moto on 127.0.0.1), and the InferenceService reads that copy."""

from __future__ import annotations

import asyncio

import boto3
import pytest
from merlin_jupyter_server.errors import DeploymentError

from .conftest import ISVC, spec_for

pytestmark = pytest.mark.asyncio


@pytest.fixture
def local_model(tmp_path):
    model = tmp_path / "mlruns" / "1" / "abc" / "artifacts" / "model"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
    )
    (model / "requirements.txt").write_text("scikit-learn==1.5.2\n")
    (model / "model.pkl").write_bytes(b"\x80" * (3 * 2**20))
    return model


def store_config(endpoint: str) -> dict:
    return {
        "artifact_store": {
            "uri": "s3://models/merlin",
            "endpoint_url": endpoint,
            "secret": "s3-credentials",
        }
    }


def seed_secret(kube) -> None:
    kube.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "food-recs"}})
    kube.fake.seed(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s3-credentials", "namespace": "food-recs"},
            "stringData": {"AWS_ACCESS_KEY_ID": "merlin", "AWS_SECRET_ACCESS_KEY": "merlin-secret"},
        }
    )


async def until(deployer, spec, handle, predicate, timeout=30.0):  # generous: copies run late on a loaded CI machine
    deadline = asyncio.get_running_loop().time() + timeout
    seen = []
    while asyncio.get_running_loop().time() < deadline:
        status = await deployer.status(spec, handle)
        seen.append(status.message)
        if predicate(status):
            return status, seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"never matched; saw {seen[-3:]}")


async def test_a_local_model_is_copied_once_and_served_from_the_store(
    kube, kserve_controller, deployer, s3_endpoint, local_model
):
    seed_secret(kube)
    d = deployer(**store_config(s3_endpoint))
    spec = spec_for(d.environment, artifact_uri=f"file://{local_model.parent}")
    started = await d.deploy(spec)
    assert started.state == "pending" and started.message.startswith(
        "copying the model to s3://models/merlin/food-recs/iris/1/"
    )
    ready, seen = await until(d, spec, started.handle, lambda s: s.state in ("ready", "failed"))
    assert ready.state == "ready", ready.message
    assert any("of 3.0 MiB" in (m or "") for m in seen)

    isvc = kube.fake.get(ISVC, "food-recs", "iris-1-r1")
    uri = isvc["spec"]["predictor"]["model"]["storageUri"]
    assert uri == started.handle["storage_uri"] and uri.startswith(
        "s3://models/merlin/food-recs/iris/1/"
    )
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "merlin-storage"
    account = kube.fake.get("v1/serviceaccounts", "food-recs", "merlin-storage")
    assert account["secrets"] == [{"name": "s3-credentials"}]
    assert account["metadata"]["annotations"][
        "serving.kserve.io/s3-endpoint"
    ] == s3_endpoint.removeprefix("http://")
    assert account["metadata"]["annotations"]["serving.kserve.io/s3-usehttps"] == "0"

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    prefix = uri.removeprefix("s3://models/")
    keys = {
        o["Key"].removeprefix(prefix + "/")
        for o in s3.list_objects_v2(Bucket="models", Prefix=prefix)["Contents"]
    }
    assert keys == {"MLmodel", "requirements.txt", "model.pkl", ".merlin-upload-complete"}

    # A redeploy of the same files finds the complete copy and does not upload again: an object
    # removed behind its back stays removed.
    s3.delete_object(Bucket="models", Key=f"{prefix}/requirements.txt")
    second = spec_for(d.environment, artifact_uri=spec.artifact_uri, revision=2)
    again = await d.deploy(second)
    await until(d, second, again.handle, lambda s: s.state == "ready")
    assert again.handle["storage_uri"] == uri
    assert "Contents" not in s3.list_objects_v2(
        Bucket="models", Prefix=f"{prefix}/requirements.txt"
    )


async def test_a_failed_copy_fails_the_endpoint_with_what_to_check(
    kube, deployer, s3_endpoint, local_model
):
    seed_secret(kube)
    config = store_config(s3_endpoint)
    config["artifact_store"]["uri"] = "s3://no-such-bucket/merlin"
    d = deployer(**config)
    spec = spec_for(d.environment, artifact_uri=str(local_model.parent))
    started = await d.deploy(spec)
    failed, _ = await until(d, spec, started.handle, lambda s: s.state != "pending")
    assert failed.state == "failed"
    assert (
        "Copying the model to s3://no-such-bucket/merlin" in failed.message
        and "NoSuchBucket" in failed.message
    )
    assert kube.fake.get(ISVC, "food-recs", "iris-1-r1") is None


async def test_a_missing_credentials_secret_is_named(kube, deployer, s3_endpoint, local_model):
    d = deployer(**store_config(s3_endpoint))
    with pytest.raises(DeploymentError) as err:
        await d.deploy(spec_for(d.environment, artifact_uri=str(local_model.parent)))
    assert "Secret 's3-credentials' does not exist in namespace 'food-recs'" in err.value.message


async def test_mlflow_only_uris_are_refused(kube, deployer):
    d = deployer()
    with pytest.raises(DeploymentError, match="cannot be read by a cluster"):
        await d.deploy(spec_for(d.environment, artifact_uri="mlflow-artifacts:/1/abc/artifacts"))
