"""Merlin's rules, exercised on the services with SQLite and PostgreSQL, and a real MLflow store."""
from __future__ import annotations

import pytest

from merlin_jupyter_server.errors import Conflict, InvalidInput, NotFound
from merlin_jupyter_server.services.deployments import DeploymentStateService
from merlin_jupyter_server.services.endpoints import EndpointService
from merlin_jupyter_server.services.environments import EnvironmentService
from merlin_jupyter_server.services.events import EventService
from merlin_jupyter_server.services.model_endpoints import ModelEndpointService
from merlin_jupyter_server.services.models import ModelService
from merlin_jupyter_server.services.projects import ProjectService
from merlin_jupyter_server.services.versions import VersionService
from merlin_jupyter_server.store.db import Database

from .conftest import mlflow_reader


class Services:
    def __init__(self, db_url, mlflow):
        self.db = Database(db_url)
        EnvironmentService(self.db).sync_from_config(
            [{"name": "staging", "kubeconfig": "/k", "context": "staging"}], {}
        )
        self.projects = ProjectService(self.db, "http://tracking")
        self.models = ModelService(self.db, mlflow)
        self.versions = VersionService(self.db, mlflow)
        self.endpoints = EndpointService(self.db)
        self.model_endpoints = ModelEndpointService(self.db)
        self.state = DeploymentStateService(self.db)
        self.events = EventService(self.db)

    def running_endpoint(self, model_id: int, number: int, env: str = "local") -> str:
        endpoint = self.endpoints.create(model_id, number, {"environment_name": env}, "alice")
        self.state.record_started(endpoint.id, 1, {"pid": 1})
        self.state.record_ready(endpoint.id, 1, f"http://127.0.0.1/{endpoint.id}", {"pid": 1})
        return endpoint.id


@pytest.fixture
def svc(db_url, mlflow_gateway) -> Services:
    """The services on SQLite and on PostgreSQL (db_url is parametrized in tests/conftest.py)."""
    services = Services(db_url, mlflow_gateway)
    yield services
    services.db.close()


@pytest.fixture
def model(svc):
    project = svc.projects.create({"name": f"proj-{id(svc) % 100000}"}, "alice")
    return svc.models.create(project.id, {"name": "churn", "type": "sklearn"}, "alice")


@pytest.mark.parametrize("name", ["ab", "Upper-case", "-lead", "trail-", "under_score", "x" * 51, None, 42])
def test_project_names_follow_rfc1123(svc, name):
    with pytest.raises(InvalidInput) as err:
        svc.projects.create({"name": name}, "alice")
    assert err.value.field == "name" and "lowercase" in err.value.message


def test_duplicate_project_is_a_conflict(svc):
    svc.projects.create({"name": "food-recommendation"}, "alice")
    with pytest.raises(Conflict, match="already exists"):
        svc.projects.create({"name": "food-recommendation"}, "bob")


@pytest.mark.parametrize("name", ["ab", "1model", "model-", "a" * 26, "Model"])
def test_model_names_are_validated(svc, model, name):
    with pytest.raises(InvalidInput):
        svc.models.create(model.project_id, {"name": name, "type": "sklearn"}, "alice")


def test_model_type_must_be_known(svc, model):
    with pytest.raises(InvalidInput, match="pyfunc, sklearn, xgboost"):
        svc.models.create(model.project_id, {"name": "other", "type": "keras"}, "alice")


def test_model_is_an_mlflow_experiment_named_project_slash_model(svc, model, hosted_mlflow):
    project = svc.projects.get(model.project_id)
    experiment = mlflow_reader(hosted_mlflow).get_experiment_by_name(f"{project.name}/churn")
    assert int(experiment.experiment_id) == model.mlflow_experiment_id
    with pytest.raises(Conflict):
        svc.models.create(model.project_id, {"name": "churn", "type": "sklearn"}, "alice")


def test_versions_count_per_model_and_page_newest_first(svc, model):
    numbers = [svc.versions.create(model.id, {"labels": {"n": str(i)}}, "alice").id for i in range(5)]
    assert numbers == [1, 2, 3, 4, 5]
    page, cursor = svc.versions.list(model.id, limit=2)
    assert [v.id for v in page] == [5, 4] and cursor == 4
    page, cursor = svc.versions.list(model.id, limit=2, cursor=cursor)
    assert [v.id for v in page] == [3, 2]
    found, _ = svc.versions.list(model.id, search="n:3")
    assert [v.id for v in found] == [4]


def test_version_is_an_mlflow_run_with_an_artifact_uri(svc, model, hosted_mlflow):
    version = svc.versions.create(model.id, {}, "alice")
    assert len(version.mlflow_run_id) == 32 and version.artifact_uri.endswith("/artifacts")
    # Named by its version in the MLflow UI, not by a placeholder shared by every run.
    run = mlflow_reader(hosted_mlflow).get_run(version.mlflow_run_id)
    assert run.info.run_name == f"{model.name}-v1"


def test_deployed_version_is_immutable_except_labels(svc, model):
    version = svc.versions.create(model.id, {}, "alice")
    svc.endpoints.create(model.id, version.id, {}, "alice")
    assert svc.versions.update(model.id, version.id, {"labels": {"team": "x"}}, "alice").labels == {"team": "x"}
    with pytest.raises(Conflict, match="only its labels"):
        svc.versions.update(model.id, version.id, {"python_version": "3.9"}, "alice")


def test_at_most_two_active_endpoints_per_version_and_environment(svc, model):
    version = svc.versions.create(model.id, {}, "alice")
    first = svc.endpoints.create(model.id, version.id, {"environment_name": "local"}, "alice")
    svc.endpoints.create(model.id, version.id, {"environment_name": "local"}, "alice")
    with pytest.raises(Conflict, match="at most 2"):
        svc.endpoints.create(model.id, version.id, {"environment_name": "local"}, "alice")
    svc.endpoints.create(model.id, version.id, {"environment_name": "staging"}, "alice")
    svc.endpoints.request_undeploy(model.id, version.id, first.id, "alice")
    svc.state.record_terminated(first.id)
    assert svc.endpoints.create(model.id, version.id, {"environment_name": "local"}, "alice").status.value == "pending"


def test_unknown_environment_and_bad_resources_are_refused_in_words(svc, model):
    version = svc.versions.create(model.id, {}, "alice")
    with pytest.raises(NotFound, match="choose one of local, staging"):
        svc.endpoints.create(model.id, version.id, {"environment_name": "prod"}, "alice")
    with pytest.raises(InvalidInput, match="min_replica"):
        svc.endpoints.create(model.id, version.id, {"resource_request": {"min_replica": 3, "max_replica": 1}}, "a")
    with pytest.raises(InvalidInput, match="memory_request"):
        svc.endpoints.create(model.id, version.id, {"resource_request": {"memory_request": "lots"}}, "a")
    with pytest.raises(InvalidInput, match="rps"):
        svc.endpoints.create(model.id, version.id, {"autoscaling_policy": {"metrics_type": "gpu"}}, "a")


def test_endpoint_state_machine_and_stale_results(svc, model):
    version = svc.versions.create(model.id, {}, "alice")
    endpoint = svc.endpoints.create(model.id, version.id, {}, "alice")
    assert endpoint.status.value == "pending" and endpoint.desired == "running"
    svc.state.record_started(endpoint.id, 1, {"pid": 10})
    svc.state.record_failed(endpoint.id, 1, "the model could not be loaded")
    failed = svc.endpoints.get(model.id, version.id, endpoint.id)
    assert failed.status.value == "failed" and failed.message == "the model could not be loaded"
    redeployed = svc.endpoints.redeploy(model.id, version.id, endpoint.id, {}, "alice")
    assert redeployed.status.value == "pending" and redeployed.revision == 2
    # A late result about revision 1 must not touch revision 2.
    svc.state.record_ready(endpoint.id, 1, "http://old", {"pid": 10})
    assert svc.endpoints.get(model.id, version.id, endpoint.id).status.value == "pending"
    svc.state.record_ready(endpoint.id, 2, "http://new", {"pid": 11})
    assert svc.endpoints.get(model.id, version.id, endpoint.id).url == "http://new"


def test_redeploy_of_a_running_endpoint_keeps_it_running_until_the_new_revision_is_ready(svc, model):
    version = svc.versions.create(model.id, {}, "alice")
    endpoint_id = svc.running_endpoint(model.id, version.id)
    during = svc.endpoints.redeploy(model.id, version.id, endpoint_id, {"resource_request": {"workers": 2}}, "a")
    assert during.status.value == "running" and "keeps serving" in during.message
    leftovers = svc.state.record_failed(endpoint_id, 2, "revision 2 crashed")
    after = svc.endpoints.get(model.id, version.id, endpoint_id)
    assert after.status.value == "running" and "previous revision keeps serving" in after.message
    assert leftovers == [{}]  # the failed revision had no handle yet; the old one is kept


def test_traffic_rules_and_serving_status(svc, model):
    v1, v2 = (svc.versions.create(model.id, {}, "alice").id for _ in range(2))
    e1, e2 = svc.running_endpoint(model.id, v1), svc.running_endpoint(model.id, v2)
    with pytest.raises(InvalidInput, match="add up to 90"):
        svc.model_endpoints.create(model.id, {"rule": {"destinations": [
            {"version_endpoint_id": e1, "weight": 80}, {"version_endpoint_id": e2, "weight": 10}]}}, "a")
    me = svc.model_endpoints.create(model.id, {"rule": {"destinations": [
        {"version_endpoint_id": e1, "weight": 90}, {"version_endpoint_id": e2, "weight": 10}]}}, "a")
    svc.state.record_routed(me.id, 1, "http://router/p/m")
    assert {svc.endpoints.get(model.id, v, e).status.value for v, e in ((v1, e1), (v2, e2))} == {"serving"}
    with pytest.raises(Conflict, match="remove it from the model endpoint"):
        svc.endpoints.request_undeploy(model.id, v2, e2, "alice")
    svc.model_endpoints.update(model.id, me.id, {"rule": {"destinations": [{"version_endpoint_id": e1, "weight": 100}]}}, "a")
    svc.state.record_routed(me.id, 2, "http://router/p/m")
    assert svc.endpoints.get(model.id, v2, e2).status.value == "running"
    svc.endpoints.request_undeploy(model.id, v2, e2, "alice")


def test_an_endpoint_restarting_after_a_crash_still_cannot_be_undeployed_while_a_rule_names_it(svc, model):
    v1 = svc.versions.create(model.id, {}, "alice").id
    e1 = svc.running_endpoint(model.id, v1)
    me = svc.model_endpoints.create(model.id, {"rule": {"destinations": [
        {"version_endpoint_id": e1, "weight": 100}]}}, "a")
    svc.state.record_routed(me.id, 1, "http://router/p/m")
    svc.state.record_crashed(e1, 1, {"pid": 10}, "Restarting after a crash: next try in 1 s")
    assert svc.endpoints.get(model.id, v1, e1).status.value == "pending"
    with pytest.raises(Conflict, match="remove it from the model endpoint"):
        svc.endpoints.request_undeploy(model.id, v1, e1, "alice")


def test_only_running_endpoints_of_the_same_model_and_environment_get_traffic(svc, model):
    version = svc.versions.create(model.id, {}, "alice").id
    pending = svc.endpoints.create(model.id, version, {}, "alice")
    with pytest.raises(Conflict, match="is pending"):
        svc.model_endpoints.create(model.id, {"rule": {"destinations": [
            {"version_endpoint_id": pending.id, "weight": 100}]}}, "a")
    staging = svc.running_endpoint(model.id, version, env="staging")
    with pytest.raises(Conflict, match="its own environment"):
        svc.model_endpoints.create(model.id, {"environment_name": "local", "rule": {"destinations": [
            {"version_endpoint_id": staging, "weight": 100}]}}, "a")


def test_every_change_is_an_event(svc, model):
    version = svc.versions.create(model.id, {}, "alice")
    svc.endpoints.create(model.id, version.id, {}, "bob")
    events = svc.events.list(model_id=model.id)
    assert [(e.actor, e.action, e.entity_type) for e in events][:3] == [
        ("bob", "deploy", "version_endpoint"), ("alice", "create", "version"), ("alice", "create", "model")]


def test_environments_from_configuration(svc):
    names = {e.name: e for e in EnvironmentService(svc.db).list()}
    assert names["local"].is_default and names["staging"].kind == "kubernetes"
    with pytest.raises(InvalidInput, match="names no cluster"):
        EnvironmentService(svc.db).create({"name": "prod"}, "alice")


def test_two_endpoints_of_a_version_never_share_a_revision(svc, model):
    version = svc.versions.create(model.id, {}, "alice").id
    first = svc.endpoints.create(model.id, version, {}, "alice")
    second = svc.endpoints.create(model.id, version, {}, "alice")
    redeployed = svc.endpoints.redeploy(model.id, version, first.id, {}, "alice")
    assert [first.revision, second.revision, redeployed.revision] == [1, 2, 3]
