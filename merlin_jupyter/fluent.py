"""The fluent SDK, with Merlin's names: ``set_project``, ``set_model``, ``new_model_version``, ``deploy``...

State (the client, the current project, model and version) lives in this module, as in Merlin's
SDK, so a notebook reads top to bottom::

    import merlin_jupyter as merlin
    merlin.set_project("demo")
    merlin.set_model("iris", "sklearn")
    with merlin.new_model_version() as v:
        merlin.log_model(clf, input_example=X[:5])
    endpoint = merlin.deploy(v)
    endpoint.predict(X[:2])
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from .client import Client, MerlinError
from .progress import Progress
from .resources import Environment, Model, ModelEndpoint, ModelVersion, Project, VersionEndpoint

_state: dict[str, Any] = {"client": None, "project": None, "model": None, "version": None}


class MerlinDeploymentError(MerlinError):
    """A deploy ended ``failed``; ``endpoint`` holds it, the message says why (with log lines)."""

    def __init__(self, message: str, endpoint: VersionEndpoint):
        super().__init__(message)
        self.endpoint = endpoint


# -- connection and context -----------------------------------------------------------------
def set_url(url: str, token: str | None = None) -> None:
    """Use the control plane at ``url`` (a Jupyter server URL or its ``.../merlin/api`` URL).

    Notebooks opened in JupyterLab need not call this: the server tells its kernels where it is.
    """
    _state.update(client=Client(url, token), project=None, model=None, version=None)
    _client().get("/environments")  # fail now, in words, if it is not there


def _client() -> Client:
    if _state["client"] is None:
        _state["client"] = Client()
    return _state["client"]


def get_url() -> str:
    """The Jupyter server this SDK talks to."""
    return _client().server_url


def set_project(name: str) -> Project:
    """Use project ``name``, creating it if it does not exist (3-50 lowercase letters, digits, '-')."""
    found = _client().get("/projects", name=name)
    project = Project(found[0] if found else _client().post("/projects", {"name": name}))
    _state.update(project=project, model=None, version=None)
    return project


def active_project() -> Project:
    if _state["project"] is None:
        raise MerlinError("No project is set: call merlin.set_project('<name>') first.")
    return _state["project"]


def set_model(name: str, model_type: str = "pyfunc") -> Model:
    """Use model ``name`` of the current project, creating it (and its MLflow experiment) if needed.

    ``model_type``: pyfunc, sklearn, xgboost, tensorflow, pytorch, onnx or custom.
    """
    project = active_project()
    found = _client().get(f"/projects/{project.id}/models", name=name)
    data = found[0] if found else _client().post(f"/projects/{project.id}/models", {"name": name, "type": model_type})
    _state.update(model=Model(data), version=None)
    return _state["model"]


def active_model() -> Model:
    if _state["model"] is None:
        raise MerlinError("No model is set: call merlin.set_model('<name>', '<type>') first.")
    return _state["model"]


# -- versions --------------------------------------------------------------------------------
class VersionRun:
    """A new model version and its MLflow run; use it with ``with`` so the run is closed."""

    def __init__(self, version: ModelVersion, tracking_uri: str, token: str):
        self.version = version
        self._tracking_uri, self._token = tracking_uri, token
        self._run = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.version, name)

    def __enter__(self) -> ModelVersion:
        import os

        import mlflow

        os.environ["MLFLOW_TRACKING_TOKEN"] = self._token
        mlflow.set_tracking_uri(self._tracking_uri)
        self._run = mlflow.start_run(run_id=self.version.mlflow_run_id)
        return self.version

    def __exit__(self, exc_type, *_exc) -> None:
        import mlflow

        mlflow.end_run("FAILED" if exc_type else "FINISHED")

    def __repr__(self) -> str:
        return repr(self.version)

    def _repr_html_(self) -> str:
        return self.version._repr_html_()


def new_model_version(labels: dict[str, str] | None = None) -> VersionRun:
    """Create the next version of the current model (an MLflow run in its experiment).

    Use it as a context manager: ``with merlin.new_model_version() as v: merlin.log_model(...)``.
    """
    import platform

    model = active_model()
    data = _client().post(f"/models/{model.id}/versions",
                          {"labels": labels or {}, "python_version": platform.python_version()})
    version = ModelVersion(data)
    _state["version"] = version
    tracking = active_project().mlflow_tracking_url or _client().tracking_uri
    return VersionRun(version, tracking, _client().token)


def log_param(key: str, value: Any) -> None:
    """Log a parameter in the current version's MLflow run."""
    import mlflow

    mlflow.log_param(key, value)


def log_metric(key: str, value: float) -> None:
    """Log a metric in the current version's MLflow run."""
    import mlflow

    mlflow.log_metric(key, value)


def set_tag(key: str, value: str) -> None:
    """Tag the current version's MLflow run."""
    import mlflow

    mlflow.set_tag(key, value)


def log_model(model: Any, input_example: Any = None, pip_requirements: list[str] | None = None) -> None:
    """Log ``model`` as the current version's model (under the run's ``model`` artifact).

    scikit-learn estimators, XGBoost models and ``mlflow.pyfunc.PythonModel`` instances are
    recognised; ``input_example`` (a few rows) records the signature, and the server checks it.
    """
    from .flavors import log_any

    log_any(model, input_example, pip_requirements)


def log_pyfunc_model(model_instance: Any, conda_env: Any = None, code_dir: list[str] | None = None,
                     artifacts: dict[str, str] | None = None, input_example: Any = None,
                     pip_requirements: list[str] | None = None) -> None:
    """Log an ``mlflow.pyfunc.PythonModel`` with its artifacts (files it loads in ``load_context``)."""
    from .flavors import log_pyfunc

    log_pyfunc(model_instance, artifacts, code_dir, input_example, pip_requirements)


def list_versions(model: Model | None = None) -> list[ModelVersion]:
    """All versions of the current (or given) model, newest first."""
    model = model or active_model()
    return [ModelVersion(v) for v in _client().get(f"/models/{model.id}/versions", limit=500)]


def _version(version: Any) -> ModelVersion:
    if isinstance(version, VersionRun):
        return version.version
    if isinstance(version, ModelVersion):
        return version
    model = active_model()
    if version is None:
        if _state["version"] is not None:
            return _state["version"]
        versions = list_versions(model)
        if not versions:
            raise MerlinError(f"Model {model.name!r} has no versions: log one with merlin.new_model_version().")
        return versions[0]
    return ModelVersion(_client().get(f"/models/{model.id}/versions/{int(version)}"))


# -- deployments -----------------------------------------------------------------------------
def deploy(version: Any = None, environment_name: str | None = None,
           resource_request: dict[str, Any] | None = None, env_vars: dict[str, str] | None = None,
           deployment_mode: str | None = None, autoscaling_policy: dict[str, Any] | None = None,
           wait: bool = True, timeout: float = 900.0) -> VersionEndpoint:
    """Deploy a version (default: the latest) as a real-time HTTP endpoint.

    Blocks until the endpoint is running (showing its progress) unless ``wait=False``. A deploy
    that fails raises MerlinDeploymentError with the reason and the model server's last log lines.
    Redeploys the version's endpoint in that environment if it already has one.
    """
    ver = _version(version)
    body: dict[str, Any] = {"environment_name": environment_name}
    body.update({k: v for k, v in {"resource_request": resource_request, "deployment_mode": deployment_mode,
                                   "autoscaling_policy": autoscaling_policy}.items() if v is not None})
    if env_vars:
        body["env_vars"] = [{"name": k, "value": str(v)} for k, v in env_vars.items()]
    base = f"/models/{ver.model_id}/versions/{ver.id}/endpoint"
    existing = _active_endpoint(ver, environment_name)
    data = _client().put(f"{base}/{existing['id']}", body) if existing else _client().post(base, body)
    endpoint = VersionEndpoint(data)
    return _wait(endpoint, base, timeout) if wait else endpoint


def _active_endpoint(ver: ModelVersion, environment_name: str | None) -> dict[str, Any] | None:
    env = environment_name or next((e["name"] for e in _client().get("/environments") if e["is_default"]), "local")
    endpoints = _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint")
    live = [e for e in endpoints if e["environment_name"] == env and e["status"] in ("pending", "running", "serving")]
    return live[0] if live else None


def _wait(endpoint: VersionEndpoint, base: str, timeout: float) -> VersionEndpoint:
    progress = Progress(f"Deploying to {endpoint.environment_name}")
    start = time.monotonic()
    data = endpoint.to_dict()
    while data["status"] == "pending" or (data.get("message") or "").startswith("Revision "):
        progress.update(data["status"], data.get("message"), time.monotonic() - start)
        if time.monotonic() - start > timeout:
            progress.done(False, f"still pending after {int(timeout)} s")
            raise MerlinError(f"Endpoint {data['id']} is still pending after {int(timeout)} s: see merlin.logs().")
        time.sleep(0.1)
        data = _client().get(f"{base}/{data['id']}")
    endpoint = VersionEndpoint(data)
    elapsed = time.monotonic() - start
    if data["status"] == "failed" or (data.get("message") or "").startswith("Redeploy failed"):
        progress.done(False, data.get("message"), elapsed)
        raise MerlinDeploymentError(f"The deploy failed: {data.get('message')}", endpoint)
    progress.done(True, f"{data['status']} at {data['url']}", elapsed)
    return endpoint


def undeploy(version: Any = None, environment_name: str | None = None) -> None:
    """Stop the version's endpoint in the environment (refused while it serves a model endpoint)."""
    ver = _version(version)
    existing = _active_endpoint(ver, environment_name)
    if existing is None:
        raise MerlinError(f"Version {ver.id} has no active endpoint in {environment_name or 'the default environment'}.")
    _client().delete(f"/models/{ver.model_id}/versions/{ver.id}/endpoint/{existing['id']}")


def logs(version: Any = None, environment_name: str | None = None, tail: int = 100) -> list[str]:
    """The last ``tail`` lines the version's model server wrote."""
    ver = _version(version)
    endpoints = _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint")
    if environment_name:
        endpoints = [e for e in endpoints if e["environment_name"] == environment_name]
    if not endpoints:
        raise MerlinError(f"Version {ver.id} has never been deployed there.")
    latest = max(endpoints, key=lambda e: e["created_at"])
    return _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint/{latest['id']}/logs", tail=tail)["logs"]


def serve_traffic(traffic: dict[Any, int], environment_name: str | None = None,
                  mirror: Any = None) -> ModelEndpoint:
    """Route the model's stable URL: ``{endpoint: weight}`` with weights adding up to 100."""
    model = active_model()
    rule: dict[str, Any] = {"destinations": [
        {"version_endpoint_id": getattr(e, "id", e), "weight": int(w)} for e, w in traffic.items()]}
    if mirror is not None:
        rule["mirror"] = {"id": getattr(mirror, "id", mirror)}
    current = _model_endpoint(model, environment_name)
    if current:
        data = _client().put(f"/models/{model.id}/endpoints/{current['id']}", {"rule": rule})
    else:
        data = _client().post(f"/models/{model.id}/endpoints", {"environment_name": environment_name, "rule": rule})
    return ModelEndpoint(data)


def stop_serving_traffic(environment_name: str | None = None) -> None:
    """Remove the model's endpoint in the environment; its versions keep running."""
    model = active_model()
    current = _model_endpoint(model, environment_name)
    if current is None:
        raise MerlinError(f"Model {model.name!r} serves no traffic there.")
    _client().delete(f"/models/{model.id}/endpoints/{current['id']}")


def _model_endpoint(model: Model, environment_name: str | None) -> dict[str, Any] | None:
    env = environment_name or next((e["name"] for e in _client().get("/environments") if e["is_default"]), "local")
    found = [m for m in _client().get(f"/models/{model.id}/endpoints")
             if m["environment_name"] == env and m["status"] != "terminated"]
    return found[0] if found else None


# -- listing ---------------------------------------------------------------------------------
def list_environments() -> list[Environment]:
    """The environments endpoints can be deployed to (``local`` is this machine)."""
    return [Environment(e) for e in _client().get("/environments")]


def list_projects() -> list[Project]:
    return [Project(p) for p in _client().get("/projects")]


def list_models(project: Project | None = None) -> list[Model]:
    project = project or active_project()
    return [Model(m) for m in _client().get(f"/projects/{project.id}/models")]


def list_endpoints(version: Any = None) -> list[VersionEndpoint]:
    ver = _version(version)
    return [VersionEndpoint(e) for e in _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint")]


__all__: Iterable[str] = [
    "set_url", "get_url", "set_project", "active_project", "set_model", "active_model",
    "new_model_version", "log_param", "log_metric", "set_tag", "log_model", "log_pyfunc_model",
    "deploy", "undeploy", "logs", "serve_traffic", "stop_serving_traffic", "list_environments",
    "list_projects", "list_models", "list_versions", "list_endpoints", "MerlinError", "MerlinDeploymentError",
]
