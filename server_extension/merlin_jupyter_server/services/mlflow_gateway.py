"""The one seam to MLflow: experiments for models, runs for versions.

Blocking (MLflow's APIs are synchronous); services call it from worker threads.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

from ..errors import Unavailable
from ..leadership import migration_lock
from ..store.db import MIGRATION_LOCK


class MlflowGateway:
    """Creates experiments and runs in the tracking store the control plane serves or uses.

    ``store_uri`` + ``artifact_root``: the control plane hosts this store itself (the tracking
    server is mounted under ``merlin/mlflow``), so it writes to it directly, not over HTTP.
    ``tracking_uri`` alone: an external MLflow tracking server, reached with its client.
    """

    def __init__(
        self,
        public_uri: str,
        store_uri: str | None = None,
        artifact_root: str | None = None,
        wait_ready: "Callable[[], None] | None" = None,
    ):
        self.public_uri = public_uri.rstrip("/")
        # MLflow must not be imported by two threads at once: wait for the host's import.
        self._wait_ready = wait_ready
        self._store_uri = store_uri
        self._artifact_root = artifact_root
        self._store: Any = None
        self._lock = threading.Lock()

    @property
    def ui_url(self) -> str:
        return self.public_uri if self.public_uri.startswith("http") else ""

    def _get_store(self) -> Any:
        with self._lock:
            if self._store is None:
                try:
                    if self._wait_ready is not None:
                        self._wait_ready()
                    if self._store_uri:
                        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

                        # Its first open creates the tables with Alembic: one migration at a
                        # time, in this process and (on PostgreSQL) among replicas.
                        with MIGRATION_LOCK, migration_lock(self._store_uri):
                            self._store = SqlAlchemyStore(self._store_uri, self._artifact_root)
                    else:
                        from mlflow.tracking import MlflowClient

                        self._store = MlflowClient(tracking_uri=self.public_uri)
                except Exception as exc:  # noqa: BLE001 - any store failure is "unavailable"
                    raise Unavailable(
                        f"The MLflow tracking store at {self.public_uri} cannot be opened ({exc}). "
                        "Check MerlinApp.mlflow_tracking_uri."
                    ) from exc
            return self._store

    def ensure_experiment(self, name: str) -> int:
        """The id of experiment ``name``, created if missing (an existing one is reused)."""
        store = self._get_store()
        try:
            experiment = store.get_experiment_by_name(name)
            if experiment is None:
                try:
                    return int(store.create_experiment(name))
                except Exception:  # noqa: BLE001 - a concurrent create of the same name won
                    experiment = store.get_experiment_by_name(name)
                    if experiment is None:
                        raise
            if getattr(experiment, "lifecycle_stage", "active") == "deleted":
                try:
                    store.restore_experiment(experiment.experiment_id)
                except Exception:  # noqa: BLE001 - restored by a concurrent create
                    if store.get_experiment(experiment.experiment_id).lifecycle_stage != "active":
                        raise
            return int(experiment.experiment_id)
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(
                f"Could not create the MLflow experiment {name!r}: {exc}. "
                f"Check that the tracking store at {self.public_uri} is reachable."
            ) from exc

    def create_run(self, experiment_id: int, run_name: str) -> tuple[str, str]:
        """Start a run; returns ``(run_id, artifact_uri)``.

        The run carries no tags: its tags are its user's (Merlin's SDK lists them all back),
        and which version it belongs to is kept in this control plane's store.
        """
        import time

        store = self._get_store()
        try:
            if self._store_uri:
                run = store.create_run(
                    experiment_id=str(experiment_id),
                    user_id="merlin",
                    start_time=int(time.time() * 1000),
                    tags=[],
                    run_name=run_name,
                )
            else:
                run = store.create_run(str(experiment_id), run_name=run_name)
            self._drop_run_name_tag(run.info.run_id)
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(
                f"Could not create an MLflow run in experiment {experiment_id}: {exc}."
            ) from exc
        return run.info.run_id, run.info.artifact_uri

    def rename_run(self, run_id: str, run_name: str) -> None:
        """Give a run its final name (in the MLflow UI, runs are listed by name)."""
        try:
            if self._store_uri:
                from mlflow.entities import RunStatus

                store = self._get_store()
                status = store.get_run(run_id).info.status
                store.update_run_info(run_id, RunStatus.from_string(status), None, run_name)
            else:
                self._get_store().update_run(run_id, name=run_name)
            self._drop_run_name_tag(run_id)
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(f"Could not rename MLflow run {run_id}: {exc}.") from exc

    def delete_run(self, run_id: str) -> None:
        """Move a deleted version's run to MLflow's trash (restorable, as MLflow deletes)."""
        self._delete("run", run_id, lambda store: store.delete_run(run_id))

    def delete_experiment(self, experiment_id: int) -> None:
        """Move a deleted model's experiment to MLflow's trash; a model created again with the
        same name restores it (``ensure_experiment``)."""
        self._delete("experiment", experiment_id, lambda store: store.delete_experiment(str(experiment_id)))

    def _delete(self, what: str, ident: Any, call: Callable[[Any], None]) -> None:
        try:
            call(self._get_store())
        except Exception as exc:  # noqa: BLE001
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or \
                    "already deleted" in str(exc) or "must be in the 'active' state" in str(exc):
                return  # gone already: what deleting wants
            raise Unavailable(f"Could not delete MLflow {what} {ident}: {exc}.") from exc

    def _drop_run_name_tag(self, run_id: str) -> None:
        # MLflow mirrors a run's name into an "mlflow.runName" tag; the name itself lives in
        # the run's info, which is what the MLflow UI shows, so the tag is not needed.
        try:
            self._get_store().delete_tag(run_id, "mlflow.runName")
        except Exception:  # noqa: BLE001 - a store that never added it
            pass

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
        try:
            store = self._get_store()
            found = store.search_logged_models(
                experiment_ids=[str(experiment_id)], filter_string=f"source_run_id = '{run_id}'"
            )
        except Exception:  # noqa: BLE001 - an old tracking server without logged models
            found = []
        models = sorted(found, key=lambda m: (m.name != "model", -(m.creation_timestamp or 0)))
        if models:
            return models[0].artifact_location
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
