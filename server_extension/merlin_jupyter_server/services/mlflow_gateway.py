"""The one seam to MLflow: experiments for models, runs for versions.

Over MLflow's REST API, to the tracking server this control plane hosts (its own process, see
``mlflow_host.py``) or to an external one: the control plane never imports MLflow, whose server
and client bring pandas and scipy (~100 MiB) into a process that lives for days.

Blocking (httpx's synchronous client); services call it from worker threads.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Iterator

import httpx

from ..errors import Unavailable

API = "api/2.0/mlflow/"


class MlflowError(Exception):
    """The tracking server answered an error (``error_code`` as MLflow names it)."""

    def __init__(self, error_code: str, message: str):
        super().__init__(message)
        self.error_code = error_code


class MlflowGateway:
    """Creates experiments and runs in the tracking store the control plane serves or uses.

    ``host``: the tracking server this control plane hosts (``MlflowHost``), reached on its
    socket. Without it, the tracking server at ``public_uri``, with the credentials MLflow's own
    client reads (``MLFLOW_TRACKING_TOKEN``, or ``MLFLOW_TRACKING_USERNAME`` and ``_PASSWORD``).
    """

    def __init__(self, public_uri: str, host: Any = None):
        self.public_uri = public_uri.rstrip("/")
        self._host = host
        self._external: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def ui_url(self) -> str:
        return self.public_uri if self.public_uri.startswith("http") else ""

    @contextlib.contextmanager
    def _client(self) -> Iterator[httpx.Client]:
        if self._host is not None:
            with self._host.client() as client:
                yield client
            return
        with self._lock:
            if self._external is None:
                self._external = _external_client(self.public_uri)
        yield self._external

    def _call(self, method: str, endpoint: str, **request: Any) -> dict:
        """One REST call; raises MlflowError for MLflow's answered errors, Unavailable when no
        server answers."""
        try:
            with self._client() as client:
                answer = client.request(method, API + endpoint, **request)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"The MLflow tracking server at {self.public_uri} did not answer ({exc or type(exc).__name__}). "
                "Check MerlinApp.mlflow_tracking_uri, or try again."
            ) from exc
        try:
            payload = answer.json() if answer.content else {}
        except ValueError:
            payload = {"message": answer.text[:200]}
        if answer.status_code >= 400:
            raise MlflowError(str(payload.get("error_code", answer.status_code)),
                              str(payload.get("message", answer.reason_phrase)))
        return payload

    def _experiment_by_name(self, name: str) -> dict | None:
        try:
            return self._call("GET", "experiments/get-by-name", params={"experiment_name": name})["experiment"]
        except MlflowError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def ensure_experiment(self, name: str) -> int:
        """The id of experiment ``name``, created if missing (an existing one is reused)."""
        try:
            experiment = self._experiment_by_name(name)
            if experiment is None:
                try:
                    return int(self._call("POST", "experiments/create", json={"name": name})["experiment_id"])
                except MlflowError:  # a concurrent create of the same name won
                    experiment = self._experiment_by_name(name)
                    if experiment is None:
                        raise
            if experiment.get("lifecycle_stage", "active") == "deleted":
                ident = experiment["experiment_id"]
                try:
                    self._call("POST", "experiments/restore", json={"experiment_id": ident})
                except MlflowError:  # restored by a concurrent create
                    got = self._call("GET", "experiments/get", params={"experiment_id": ident})["experiment"]
                    if got.get("lifecycle_stage") != "active":
                        raise
            return int(experiment["experiment_id"])
        except MlflowError as exc:
            raise Unavailable(
                f"Could not create the MLflow experiment {name!r}: {exc}. "
                f"Check that the tracking store at {self.public_uri} is reachable."
            ) from exc

    def create_run(self, experiment_id: int, run_name: str) -> tuple[str, str]:
        """Start a run; returns ``(run_id, artifact_uri)``.

        The run carries no tags: its tags are its user's (Merlin's SDK lists them all back),
        and which version it belongs to is kept in this control plane's store.
        """
        try:
            info = self._call("POST", "runs/create", json={
                "experiment_id": str(experiment_id), "user_id": "merlin", "run_name": run_name,
                "start_time": int(time.time() * 1000), "tags": []})["run"]["info"]
            self._drop_run_name_tag(info["run_id"])
        except MlflowError as exc:
            raise Unavailable(
                f"Could not create an MLflow run in experiment {experiment_id}: {exc}."
            ) from exc
        return info["run_id"], info["artifact_uri"]

    def rename_run(self, run_id: str, run_name: str) -> None:
        """Give a run its final name (in the MLflow UI, runs are listed by name)."""
        try:
            self._call("POST", "runs/update", json={"run_id": run_id, "run_name": run_name})
            self._drop_run_name_tag(run_id)
        except MlflowError as exc:
            raise Unavailable(f"Could not rename MLflow run {run_id}: {exc}.") from exc

    def delete_run(self, run_id: str) -> None:
        """Move a deleted version's run to MLflow's trash (restorable, as MLflow deletes)."""
        self._delete("run", run_id, "runs/delete", {"run_id": run_id})

    def delete_experiment(self, experiment_id: int) -> None:
        """Move a deleted model's experiment to MLflow's trash; a model created again with the
        same name restores it (``ensure_experiment``)."""
        self._delete("experiment", experiment_id, "experiments/delete", {"experiment_id": str(experiment_id)})

    def _delete(self, what: str, ident: Any, endpoint: str, request: dict) -> None:
        try:
            self._call("POST", endpoint, json=request)
        except MlflowError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "already deleted" in str(exc) or \
                    "must be in the 'active' state" in str(exc):
                return  # gone already: what deleting wants
            raise Unavailable(f"Could not delete MLflow {what} {ident}: {exc}.") from exc

    def _drop_run_name_tag(self, run_id: str) -> None:
        # MLflow mirrors a run's name into an "mlflow.runName" tag; the name itself lives in
        # the run's info, which is what the MLflow UI shows, so the tag is not needed.
        with contextlib.suppress(MlflowError):  # a store that never added it
            self._call("POST", "runs/delete-tag", json={"run_id": run_id, "key": "mlflow.runName"})

    def model_location(self, experiment_id: int, run_id: str, artifact_uri: str) -> str:
        """Where the version's model lives.

        MLflow 1.x/2.x clients log it under the run (``<artifact_uri>/model``); MLflow 3 logs a
        "logged model" with its own artifact location, linked to the run. Raises DeploymentError
        when a local run holds no model at all, so the user learns it before anything starts.
        """
        from ..errors import DeploymentError

        in_run = artifact_uri.rstrip("/") + "/model"
        local = _local_path(in_run)
        if local is None or os.path.isdir(local):
            if local is None or os.listdir(local):
                return in_run
        beside = _logged_beside(artifact_uri, run_id)
        if beside is not None:
            return beside
        try:
            found = [model.get("info", {}) for model in self._call("POST", "logged-models/search", json={
                "experiment_ids": [str(experiment_id)], "filter": f"source_run_id = '{run_id}'"}).get("models", [])]
        except (MlflowError, Unavailable):  # an old tracking server without logged models
            found = []
        models = sorted(found, key=lambda m: (m.get("name") != "model", -int(m.get("creation_timestamp_ms") or 0)))
        if models and models[0].get("artifact_uri"):
            return models[0]["artifact_uri"]
        raise DeploymentError(
            f"MLflow run {run_id} has no model logged, so there is nothing to serve. Log one in "
            "this version's run (merlin.log_model(...), mlflow.<flavor>.log_model(..., name='model') "
            "or %merlin log <variable>) and deploy again."
        )


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if uri.startswith("/"):
        return uri
    return None


def _logged_beside(artifact_uri: str, run_id: str) -> str | None:
    """The run's one logged model, found on this disk without asking the tracking server (which
    may be stopped: its start would be most of a deploy's time).

    MLflow 3 keeps an experiment's logged models beside its runs (``<experiment>/models/<id>/
    artifacts``), each ``MLmodel`` naming its run. Several for one run are left to the server,
    which knows their names."""
    run_artifacts = _local_path(artifact_uri.rstrip("/"))  # <root>/<experiment>/<run>/artifacts
    if run_artifacts is None:
        return None
    models = os.path.join(os.path.dirname(os.path.dirname(run_artifacts)), "models")
    line = f"run_id: {run_id}\n"
    found = []
    try:
        entries = list(os.scandir(models))
    except OSError:
        return None
    for entry in entries:
        artifacts = os.path.join(entry.path, "artifacts")
        try:
            with open(os.path.join(artifacts, "MLmodel"), encoding="utf-8") as handle:
                if line in handle.read():
                    found.append(artifacts)
        except OSError:
            continue
    if len(found) != 1:
        return None
    return ("file://" + found[0]) if artifact_uri.startswith("file://") else found[0]


def _external_client(uri: str) -> httpx.Client:
    """A client of an external tracking server, authenticated as MLflow's own client would be."""
    headers, auth = {}, None
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
        auth = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() in ("1", "true")
    return httpx.Client(base_url=uri.rstrip("/") + "/", headers=headers, auth=auth, verify=not insecure,
                        timeout=httpx.Timeout(120, connect=10))
