"""What a user reads when the cluster refuses, is full, lacks KServe, or cannot be reached."""

from __future__ import annotations

import pytest
from merlin_jupyter_server.errors import DeploymentError

from .conftest import ISVC, spec_for

pytestmark = pytest.mark.asyncio


def refuse(
    kube,
    verb: str,
    resource: str,
    code: int,
    message: str,
    reason: str = "Forbidden",
    times: int = 1,
) -> None:
    """Make the API server answer the next ``verb`` on ``resource`` with a Status error."""
    group, _, plural = resource.rpartition("/")
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"kind": plural, "group": group.split("/")[0] if "/" in group else ""},
        "code": code,
    }
    kube.in_loop(lambda f: f[verb, f.resource(resource)][:times] << code << body, kube.fake)


async def test_forbidden_says_which_permission_is_missing(kube, deployer):
    refuse(
        kube,
        "post",
        ISVC,
        403,
        'inferenceservices.serving.kserve.io is forbidden: User "alice" cannot '
        'create resource "inferenceservices" in API group "serving.kserve.io" '
        'in the namespace "food-recs"',
    )
    d = deployer()
    with pytest.raises(DeploymentError) as err:
        await d.deploy(spec_for(d.environment))
    text = err.value.message
    assert "permission denied" in text and 'User "alice"' in text
    assert "grant 'create' on inferenceservices.serving.kserve.io" in text


async def test_an_existing_namespace_is_used_when_creating_namespaces_is_forbidden(kube, deployer):
    kube.fake.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "food-recs"}})
    refuse(
        kube,
        "post",
        "v1/namespaces",
        403,
        'namespaces is forbidden: User "alice" cannot create resource "namespaces"',
    )
    d = deployer()
    assert (await d.deploy(spec_for(d.environment))).state == "pending"
    assert kube.fake.get(ISVC, "food-recs", "iris-1-r1") is not None


async def test_an_exhausted_quota_says_what_to_do(kube, deployer):
    refuse(
        kube,
        "post",
        ISVC,
        403,
        "exceeded quota: compute, requested: requests.cpu=500m, used: "
        "requests.cpu=4, limited: requests.cpu=4",
    )
    d = deployer()
    with pytest.raises(DeploymentError) as err:
        await d.deploy(spec_for(d.environment))
    assert (
        "resource quota is used up" in err.value.message and "requests.cpu=4" in err.value.message
    )


@pytest.mark.no_crds
async def test_a_cluster_without_kserve_is_reported(kube, deployer):
    d = deployer()
    reach = await d.check()
    assert not reach.reachable and "Install KServe" in reach.message
    with pytest.raises(DeploymentError, match="Install KServe"):
        await d.deploy(spec_for(d.environment))


async def test_check_reports_a_reachable_cluster(kube, deployer):
    reach = await deployer().check()
    assert reach.reachable and "KServe installed" in reach.message and "v1.33" in reach.message


async def test_an_unreachable_cluster_leaves_the_endpoint_pending_then_deploys(
    kube, kserve_controller, deployer, tmp_path, free_port, env_config
):
    from kube_plugin import write_kubeconfig

    down = write_kubeconfig(f"http://127.0.0.1:{free_port()}", tmp_path / "down.kubeconfig")
    d = deployer(kubeconfig=str(down))
    spec = spec_for(d.environment)
    reach = await d.check()
    assert not reach.reachable and "Cannot reach" in reach.message
    started = await d.deploy(spec)
    assert (
        started.state == "pending"
        and "Cannot reach" in started.message
        and "will retry" in started.message
    )
    assert (await d.status(spec, started.handle)).state == "pending"
    with pytest.raises(DeploymentError, match="Cannot reach"):
        await d.undeploy(spec, started.handle)  # raised, so the control plane retries it later

    # The cluster comes back (same handle, a deployer for the reachable address): the status is
    # "gone", so the control plane deploys again, and this time it lands.
    back = deployer()
    assert (await back.status(spec, started.handle)).state == "gone"
    assert (await back.deploy(spec)).state == "pending"
    assert kube.fake.get(ISVC, "food-recs", "iris-1-r1") is not None


async def test_a_wrong_context_name_is_a_configuration_error(kube, deployer):
    d = deployer(context="prod")
    with pytest.raises(DeploymentError) as err:
        await d.deploy(spec_for(d.environment))
    assert "prod" in err.value.message and "MerlinApp.environments" in err.value.message
    assert not (await d.check()).reachable


def exec_kubeconfig(tmp_path, url: str):
    """A kubeconfig whose user gets short-lived tokens from an exec plugin (as EKS or GKE do);
    the plugin counts its calls in a file."""
    import sys

    import yaml

    calls = tmp_path / "token-calls"
    plugin = tmp_path / "token-plugin.py"
    plugin.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(calls)!r}); n = int(p.read_text() or 0) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
        " 'kind': 'ExecCredential', 'status': {'token': f'token-{n}'}}))\n"
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    path = tmp_path / "exec.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "eks",
                "clusters": [{"name": "eks", "cluster": {"server": url}}],
                "users": [{"name": "eks", "user": user}],
                "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "eks"}}],
            }
        )
    )
    return path, calls


async def test_expired_credentials_are_fetched_again(kube, deployer, tmp_path):
    path, calls = exec_kubeconfig(tmp_path, kube.url)
    d = deployer(kubeconfig=str(path), context="eks")
    refuse(kube, "post", ISVC, 401, "Unauthorized", reason="Unauthorized")
    assert (await d.deploy(spec_for(d.environment))).state == "pending"
    assert kube.fake.get(ISVC, "food-recs", "iris-1-r1") is not None
    assert calls.read_text() == "2"  # once at start, once after the 401


async def test_rejected_credentials_say_what_to_do(kube, deployer):
    refuse(kube, "post", ISVC, 401, "Unauthorized", reason="Unauthorized", times=2)
    d = deployer()
    with pytest.raises(DeploymentError, match="did not accept our credentials"):
        await d.deploy(spec_for(d.environment))
