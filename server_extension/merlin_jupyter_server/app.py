"""MerlinApp: the control plane as a Jupyter server extension, and standalone as ``jupyter merlin``."""
from __future__ import annotations

import json
import os
import sys

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Dict, Float, Int, List, Unicode, default

from .control_plane import ControlPlane, Settings
from .errors import Conflict
from .mlflow_host import MlflowHost
from .routes import route_table
from .single_writer import StoreLock


class MerlinApp(ExtensionApp):
    name = "merlin_jupyter_server"
    app_name = "Merlin"
    description = "Self-service model serving: deploy MLflow runs locally or on KServe."
    # `jupyter merlin` runs the control plane alone: no notebook UI, no other extensions.
    load_other_extensions = False
    serverapp_config = {"open_browser": False}

    data_dir = Unicode(
        "",
        config=True,
        help="Directory for the control plane's state: database, MLflow store, endpoint logs. "
        "Default: <jupyter data dir>/merlin.",
    )
    db_url = Unicode(
        "",
        config=True,
        help="SQLAlchemy URL of the control plane's database. Default: SQLite (WAL mode) in "
        "data_dir. Use postgresql+psycopg://... for a team install.",
    )
    mlflow_tracking_uri = Unicode(
        "",
        config=True,
        help="An external MLflow tracking server (http://...). Empty (the default): this server "
        "hosts a tracking store under {base_url}merlin/mlflow, kept in data_dir.",
    )
    environments = List(
        Dict(),
        config=True,
        help="Kubernetes environments: a list of {name, kubeconfig, context | in_cluster, domain, "
        "deployment_mode, is_default, default_resource_request, artifact_store, runtime_image}. "
        "The 'local' environment (this machine) always exists.",
    )
    local_environment = Dict(
        config=True,
        help="Settings of the built-in 'local' environment, e.g. "
        '{"default_resource_request": {"workers": 1}}.',
    )
    model_server_host = Unicode(
        "127.0.0.1", config=True, help="Address local model servers and the router bind to."
    )
    model_server_python = Unicode(
        "", config=True, help="Python interpreter that runs local model servers (default: this one)."
    )
    pending_timeout = Float(
        600.0, config=True, help="Seconds an endpoint may stay pending before it is marked failed."
    )
    local_router_port = Int(
        0, config=True,
        help="Port of the local model-endpoint router (0: a free port, chosen once and then kept, "
             "so model endpoint URLs survive restarts).",
    )
    warm_standby = Bool(
        True, config=True,
        help="Keep one local model server warm (imports done) so a local deploy answers in about "
             "a second; costs one idle process.",
    )
    deployer_options = Dict(
        config=True, help="Further options for deployers, by name (see the README)."
    )

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "merlin")

    def initialize_settings(self) -> None:
        os.makedirs(self.data_dir, exist_ok=True)
        self.lock = StoreLock(os.path.join(self.data_dir, "control-plane.lock"))
        try:
            self.lock.acquire()  # refuses, in words, when another control plane owns this data_dir
        except Conflict as exc:
            if getattr(self.serverapp, "starter_app", None) is self:  # `jupyter merlin`: stop here
                self.log.critical(exc.message)
                sys.exit(1)
            raise  # inside JupyterLab: the extension is skipped with this message, Lab still runs
        base_url = self.serverapp.base_url
        tracking_uri, host = self.mlflow_tracking_uri, None
        if not tracking_uri:
            mlflow_dir = os.path.join(self.data_dir, "mlflow")
            os.makedirs(mlflow_dir, exist_ok=True)
            store_uri = "sqlite:///" + os.path.join(mlflow_dir, "mlflow.db")
            host = MlflowHost(store_uri, os.path.join(mlflow_dir, "artifacts"), url_path_join(base_url, "merlin/mlflow"))
            host.start()
            tracking_uri = url_path_join(self._server_url(), "merlin/mlflow")
        self.mlflow_host = host
        self.control_plane = ControlPlane(
            Settings(
                db_url=self.db_url or "sqlite:///" + os.path.join(self.data_dir, "merlin.db"),
                tracking_uri=tracking_uri,
                state_dir=self.data_dir,
                mlflow_store_uri=host.store_uri if host else None,
                mlflow_artifact_root=host.artifact_root if host else None,
                mlflow_wait_ready=host.wait_loaded if host else None,
                environments=list(self.environments),
                local_environment=dict(self.local_environment),
                python=self.model_server_python or sys.executable,
                host=self.model_server_host,
                pending_timeout=self.pending_timeout,
                deployer_options={"router_port": self.local_router_port,
                                  "standby": self.warm_standby, **self.deployer_options},
            )
        )
        self.settings.update({"merlin": self.control_plane, "merlin_mlflow": host})

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table())

    def _server_url(self) -> str:
        """The URL kernels on this machine use to reach this server."""
        app = self.serverapp
        ip = app.ip if app.ip not in ("", "0.0.0.0", "::", "localhost") else "127.0.0.1"
        scheme = "https" if app.certfile else "http"
        return f"{scheme}://{ip}:{app.port}{app.base_url}"

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        if not hasattr(self, "control_plane"):
            return  # did not load (the reason was logged)
        self.control_plane.start()
        url, token = self._server_url(), serverapp.identity_provider.token
        # Kernels started by this server inherit these, so notebooks need no configuration.
        os.environ["MERLIN_URL"] = url
        os.environ["MERLIN_TOKEN"] = token or ""
        if self.mlflow_host is not None:
            os.environ["MLFLOW_TRACKING_TOKEN"] = token or ""
        self.runtime_file = os.path.join(jupyter_runtime_dir(), f"merlin-server-{os.getpid()}.json")
        os.makedirs(os.path.dirname(self.runtime_file), exist_ok=True)
        with open(self.runtime_file, "w") as handle:
            json.dump({"url": url, "token": token, "pid": os.getpid(), "data_dir": self.data_dir}, handle)
        os.chmod(self.runtime_file, 0o600)
        self.log.info("Merlin control plane at %smerlin/api/v1 (data in %s)", url, self.data_dir)

    async def stop_extension(self) -> None:
        if not hasattr(self, "control_plane"):
            return
        await self.control_plane.stop()
        if self.mlflow_host is not None:
            self.mlflow_host.stop()
        runtime_file = getattr(self, "runtime_file", None)
        if runtime_file and os.path.exists(runtime_file):
            os.remove(runtime_file)
        self.lock.release()


main = launch_new_instance = MerlinApp.launch_instance
