"""Kubernetes tests run against the shared emulated API server (../shared/k8s, real schemas).

The deployer is configured the way a user configures an environment: a kubeconfig file and a
context name, as in MerlinApp.environments.
"""

from __future__ import annotations

import pathlib
import socket
import sys

import boto3
import pytest
import pytest_asyncio
from moto.server import ThreadedMotoServer

# The kit's plugin (kube, kube_config_file, kserve_controller) is registered by tests/conftest.py,
# the top-level conftest, as pytest requires; the path is repeated so this layer runs alone too.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "shared" / "k8s"))

from merlin_jupyter_server.deployers.base import DeploymentSpec  # noqa: E402
from merlin_jupyter_server.deployers.kubernetes import KubernetesDeployer  # noqa: E402
from merlin_jupyter_server.entities import AutoscalingPolicy, Environment, ResourceRequest  # noqa: E402

ISVC = "serving.kserve.io/v1beta1/inferenceservices"
VS = "networking.istio.io/v1/virtualservices"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/k8s" in str(item.fspath):
            item.add_marker(pytest.mark.k8s)


def make_environment(config: dict, name: str = "staging") -> Environment:
    return Environment(
        id=2,
        name=name,
        cluster=config.get("context", name),
        is_default=False,
        kind="kubernetes",
        default_resource_request=ResourceRequest(),
        deployment_mode=config.get("deployment_mode", "serverless"),
        config=config,
    )


@pytest.fixture
def env_config(kube_config_file) -> dict:
    return {
        "kubeconfig": str(kube_config_file),
        "context": "fake",
        "domain": "models.example.com",
        "request_timeout": 5,
        "status_interval": 0.1,
    }


@pytest_asyncio.fixture
async def deployer(env_config):
    made = []

    def make(**overrides) -> KubernetesDeployer:
        d = KubernetesDeployer(make_environment({**env_config, **overrides}))
        made.append(d)
        return d

    yield make
    for d in made:
        await d.close()


def spec_for(environment: Environment, **overrides) -> DeploymentSpec:
    values = dict(
        endpoint_id="6f1c8a52-0c43-4a54-9d1e-2f3b9c7f0a11",
        project="food-recs",
        model="iris",
        version=1,
        revision=1,
        model_type="sklearn",
        artifact_uri="s3://mlflow/1/abc/artifacts",
        environment=environment,
        resource_request=ResourceRequest(
            min_replica=0, max_replica=2, cpu_request="500m", memory_request="512Mi"
        ),
        env_vars=[{"name": "LOG_LEVEL", "value": "debug"}],
        deployment_mode="serverless",
        autoscaling_policy=AutoscalingPolicy("concurrency", 2.0),
    )
    values.update(overrides)
    return DeploymentSpec(**values)


@pytest.fixture
def free_port():
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick


@pytest.fixture
def s3_endpoint(free_port, monkeypatch):
    # Credentials as a user exports them for the control plane; the cluster gets its own Secret.
    for key, value in {
        "AWS_ACCESS_KEY_ID": "merlin",
        "AWS_SECRET_ACCESS_KEY": "merlin-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="models")
    yield url
    server.stop()
