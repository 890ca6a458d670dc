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

from collections.abc import Iterable
from typing import Any

from .client import Client, MerlinError
from .resources import Environment, Model, ModelVersion, Project, ResourceList, VersionEndpoint

_state: dict[str, Any] = {"client": None, "project": None, "model": None, "version": None, "run": None}


# -- connection and context -----------------------------------------------------------------
def set_url(url: str, token: str | None = None) -> None:
    """Use the control plane at ``url`` (a Jupyter server URL or its ``.../merlin/api`` URL).

    Notebooks opened in JupyterLab need not call this: the server tells its kernels where it is.
    """
    client = Client(url, token)
    client.get("/environments")  # fail now, in words, if it is not there (keeping the old connection)
    _state.update(client=client, project=None, model=None, version=None)


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
        raise MerlinError("No project is set: `%merlin project <name>` (merlin.set_project('<name>')) first.")
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
        raise MerlinError("No model is set: `%merlin model <name> --type <type>` "
                          "(merlin.set_model('<name>', '<type>')) first.")
    return _state["model"]


# -- versions --------------------------------------------------------------------------------
class VersionRun:
    """A new model version and its MLflow run; use it with ``with`` so the run is closed."""

    def __init__(self, version: ModelVersion, tracking_uri: str, token: str):
        self.version = version
        self._tracking_uri, self._token = tracking_uri, token
        self._run = None
        self.logged = False  # a model was logged in it (log_model, log_pyfunc_model)
        self.discarded = False  # it failed before a model was logged, and was removed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.version, name)

    def __enter__(self) -> ModelVersion:
        import os

        import mlflow

        os.environ["MLFLOW_TRACKING_TOKEN"] = self._token
        mlflow.set_tracking_uri(self._tracking_uri)
        self._run = mlflow.start_run(run_id=self.version.mlflow_run_id)
        _state["run"] = self
        return self.version

    def __exit__(self, exc_type, *_exc) -> None:
        import mlflow

        _state["run"] = None
        mlflow.end_run("FAILED" if exc_type else "FINISHED")
        if exc_type and not self.logged:
            self.discarded = _discard(self.version)

    def __repr__(self) -> str:
        return repr(self.version)

    def _repr_html_(self) -> str:
        return self.version._repr_html_()


def _discard(version: ModelVersion) -> bool:
    """Remove a version that failed before a model was logged in it, so that no later deploy
    picks an empty version (best effort: a control plane that cannot delete versions keeps it)."""
    if _state["version"] is version:
        _state["version"] = None
    try:
        _client().delete(f"/models/{version.model_id}/versions/{version.id}")
    except MerlinError:
        return False
    return True


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
    return VersionRun(version, tracking_uri(), _client().token)


def tracking_uri() -> str:
    """The MLflow tracking URI of the current project (the control plane's hosted MLflow by default)."""
    return active_project().mlflow_tracking_url or _client().tracking_uri


def use_tracking() -> str:
    """Point this process's MLflow client at the current project's tracking server; returns its URI."""
    import os

    import mlflow

    os.environ["MLFLOW_TRACKING_TOKEN"] = _client().token
    mlflow.set_tracking_uri(tracking_uri())
    return tracking_uri()


def log_param(key: str, value: Any) -> None:
    """Log a parameter in the current version's MLflow run."""
    import mlflow

    mlflow.log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Log several parameters in the current version's MLflow run, in one request."""
    import mlflow

    if params:
        mlflow.log_params(params)


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

    The flavor is recognised from the object's classes: scikit-learn, XGBoost, LightGBM,
    PyTorch, TensorFlow/Keras, ONNX, or any ``mlflow.pyfunc.PythonModel``. ``input_example`` (a
    few rows) records the signature, and what the signature cannot say (pandas ``category``
    columns and their categories, exact dtypes, a list of strings), which the model server
    restores. Before anything is logged, the model is saved in a temporary directory, loaded
    back by the model server's own loader and made to predict the example sent as a request
    sends it: a model that would not serve fails now, in words. scikit-learn models are saved
    with cloudpickle, so functions and classes defined in the notebook travel with them.
    Requirements are pinned to this kernel's installed versions unless ``pip_requirements`` is
    given. If the ``with merlin.new_model_version()`` block fails before a model is logged, the
    empty version is removed.
    """
    from .flavors import log_any

    log_any(model, input_example, pip_requirements)
    _mark_logged()


def _mark_logged() -> None:
    if _state["run"] is not None:
        _state["run"].logged = True


def log_version(model: Any, input_example: Any = None, params: dict[str, Any] | None = None,
                metrics: dict[str, float] | None = None, labels: dict[str, str] | None = None) -> ModelVersion:
    """Log ``model`` as a new version of the current model, in one call (what ``%merlin log`` does).

    The model is saved, loaded back and made to predict ``input_example`` first (see
    ``log_model``), so a model that could not be served creates no version; if logging it then
    fails (the tracking server went away), the new version is removed again.
    """
    from .flavors import prepare

    prepared = prepare(model, input_example)
    run = new_model_version(labels)
    try:
        with run as version:
            log_params(params or {})
            for key, value in (metrics or {}).items():
                log_metric(key, value)
            prepared.log()
            run.logged = True
    except MerlinError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow's reason, in words
        kept = "it was removed" if run.discarded else "it is left without a model"
        raise MerlinError(f"Logging the model into version {run.version.id} failed ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); {kept}. Check "
                          "that the control plane is running and log it again.") from None
    return version


def log_pyfunc_model(model_instance: Any, conda_env: Any = None, code_dir: list[str] | None = None,
                     artifacts: dict[str, str] | None = None, input_example: Any = None,
                     pip_requirements: list[str] | None = None) -> None:
    """Log an ``mlflow.pyfunc.PythonModel`` with its artifacts (files it loads in ``load_context``)."""
    from .flavors import log_pyfunc

    log_pyfunc(model_instance, artifacts, code_dir, input_example, pip_requirements)
    _mark_logged()


def list_versions(model: Model | None = None) -> ResourceList:
    """All versions of the current (or given) model, newest first (a table in a notebook)."""
    model = model or active_model()
    return ResourceList(ModelVersion(v) for v in _client().get(f"/models/{model.id}/versions", limit=500))


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
    try:
        return ModelVersion(_client().get(f"/models/{model.id}/versions/{int(version)}"))
    except MerlinError as exc:
        if exc.status != 404:
            raise
        raise MerlinError(f"Model {model.name!r} has no version {int(version)}: `%merlin ls` lists its "
                          "versions (merlin.list_versions()).", 404) from None


# -- listing ---------------------------------------------------------------------------------
def list_environments() -> ResourceList:
    """The environments endpoints can be deployed to (``local`` is this machine)."""
    return ResourceList(Environment(e) for e in _client().get("/environments"))


def create_environment(name: str, kubeconfig: str | None = None, context: str | None = None,
                       **settings: Any) -> Environment:
    """Add a Kubernetes environment (a cluster with KServe) to the control plane.

    ``settings`` are those of ``MerlinApp.environments`` (``domain``, ``artifact_store``,
    ``deployment_mode``, ``default_resource_request``, ``runtime_image``, ``in_cluster``,
    ``host``...). Environments that a team shares belong in the Jupyter config file instead.
    """
    body = {"name": name, **settings}
    body.update({k: v for k, v in {"kubeconfig": kubeconfig, "context": context}.items() if v is not None})
    return Environment(_client().post("/environments", body))


def list_projects() -> ResourceList:
    """Every project of the control plane."""
    return ResourceList(Project(p) for p in _client().get("/projects"))


def list_models(project: Project | None = None) -> ResourceList:
    """The models of the current (or given) project."""
    project = project or active_project()
    return ResourceList(Model(m) for m in _client().get(f"/projects/{project.id}/models"))


def list_endpoints(version: Any = None) -> ResourceList:
    """The endpoints of a version (default: the current or latest one), in every environment."""
    ver = _version(version)
    return ResourceList(VersionEndpoint(e) for e in _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint"))


def default_environment() -> str:
    """The name of the environment deploys go to when none is named."""
    return next((e["name"] for e in _client().get("/environments") if e["is_default"]), "local")


__all__: Iterable[str] = [
    "MerlinError",
    "active_model",
    "active_project",
    "create_environment",
    "default_environment",
    "get_url",
    "list_endpoints",
    "list_environments",
    "list_models",
    "list_projects",
    "list_versions",
    "log_metric",
    "log_model",
    "log_param",
    "log_params",
    "log_pyfunc_model",
    "log_version",
    "new_model_version",
    "set_model",
    "set_project",
    "set_tag",
    "set_url",
]
