"""MerlinApp: the control plane as a Jupyter server extension, and standalone as ``jupyter merlin``."""
from __future__ import annotations

import json
import os
import socket
import sys

from jupyter_core.paths import jupyter_data_dir, jupyter_runtime_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Dict, Float, Int, List, Unicode, default

from .control_plane import ControlPlane, Settings
from .control_plane_link import ControlPlaneLink
from .deployers.local_ownership import DEFAULT_ENV_ALLOWLIST
from .errors import Conflict
from .leadership import is_postgresql
from .shared_state import mlflow_store_uri
from .private_files import private_dir, private_file
from .mlflow_host import MlflowHost
from .routes import route_table
from .routes.team_proxy import http_client as team_http_client, team_route_table
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
    mlflow_preload = Bool(
        False,
        config=True,
        help="Start the hosted MLflow tracking server (its own process, ~150 MiB while it runs) "
        "when this server starts, instead of when it is first wanted (that request waits the "
        "few seconds of its start).",
    )
    mlflow_idle_stop = Float(
        600.0,
        config=True,
        help="Seconds without a request after which the hosted MLflow tracking server's process "
        "is stopped, freeing its memory; the next request starts it again (a few seconds). "
        "0: never stopped.",
    )
    mlflow_artifact_root = Unicode(
        "",
        config=True,
        help="Where the hosted MLflow store keeps artifacts: a directory every replica and every "
        "client reaches (or an s3:// root). Default: data_dir/mlflow/artifacts.",
    )
    hostname = Unicode(
        config=True,
        help="This machine's name, recorded with the local endpoints it runs; replicas on other "
        "hosts (sharing a PostgreSQL db_url) never treat those as gone. Default: socket.gethostname().",
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
    model_server_env_allowlist = List(
        Unicode(), list(DEFAULT_ENV_ALLOWLIST), config=True,
        help="Names (fnmatch patterns such as LC_*) of this server's environment variables a local "
             "model server inherits; everything else stays out of model code's reach. Whatever "
             "this says, Jupyter and MLflow tokens and AWS_*/GOOGLE_*/AZURE_* are never passed "
             "on: give an endpoint the credentials it needs as its own env_vars. PIP_*/UV_* "
             "reach only the build of a model's isolated environment.",
    )
    restart_backoff = Float(
        1.0, config=True,
        help="Seconds before a crashed local model server is restarted; doubles with each "
             "crash (up to 5 min). 5 crashes within 10 minutes fail the endpoint.",
    )
    team_mode = Bool(
        False, config=True,
        help="Enforce Merlin's project membership (administrators and readers) for the users "
             "Jupyter's identity provider names: the team control plane, run as a JupyterHub "
             "service (deploy/jupyterhub). Off: one person, who administers everything.",
    )
    public_url = Unicode(
        "", config=True,
        help="The URL clients reach this control plane at, when it is not this server's own "
             "address (a hub service: http://hub:8000/services/merlin/); projects' "
             "mlflow_tracking_url is under it. Default: this server's address.",
    )
    control_plane_url = Unicode(
        "", config=True,
        help="The team's Merlin control plane (e.g. the hub service's URL, "
             "http://hub:8000/services/merlin/). Set: this server runs none of its own; its panel, "
             "%merlin and the SDK in its kernels use the team's, as this server's user.",
    )
    control_plane_token = Unicode(
        "", config=True,
        help="Token for control_plane_url. Default under JupyterHub: one the hub issues for this "
             "server's user with access to the Merlin service only (see control_plane_service).",
    )
    control_plane_service = Unicode(
        "merlin", config=True, help="The JupyterHub service name of the team control plane."
    )
    request_log_max_age = Float(
        7 * 86400.0, config=True,
        help="Seconds a local endpoint's request log keeps a logged request (oldest files go first).",
    )
    request_log_max_bytes = Int(
        256 * 1024 * 1024, config=True,
        help="Bytes each local endpoint's request log may hold on disk; past it the oldest go first.",
    )
    scale_to_zero_after = Float(
        60.0, config=True,
        help="Seconds without a request after which a local endpoint with min_replica 0 frees its "
             "model's memory (scales to zero); its URL keeps answering, the next request wakes it. "
             "Knative's default stable window is 60 s.",
    )
    autoscale_window = Float(
        60.0, config=True,
        help="Seconds a local endpoint's autoscaler averages its metric over before removing a "
             "worker (a tenth of it, at least 1 s, before adding one), as Knative's stable and "
             "panic windows.",
    )
    metrics_interval = Float(
        5.0, config=True,
        help="Seconds between scrapes of the local model servers' and router's metrics; guarded "
             "rollouts and alerts are judged as often.")
    metrics_retention = Float(
        3600.0, config=True,
        help="Seconds of metrics history kept in memory per endpoint (at most retention/interval samples).")
    deployer_options = Dict(
        config=True, help="Further options for deployers, by name (see the README)."
    )

    @default("hostname")
    def _default_hostname(self) -> str:
        return socket.gethostname()

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "merlin")

    def initialize_settings(self) -> None:
        if self.control_plane_url:
            self._link_team_control_plane()
            return
        # Owner-only: the database holds endpoints' env var values, the logs what models print.
        private_dir(self.data_dir)
        # SQLite: one control plane per store. PostgreSQL: replicas share the database and take
        # turns reconciling by an advisory lock (leadership.py), so none refuses to start.
        self.lock = StoreLock(os.path.join(self.data_dir, "control-plane.lock"))
        try:
            if not is_postgresql(self.db_url):
                self.lock.acquire()  # refuses, in words, when another control plane owns this data_dir
        except Conflict as exc:
            if getattr(self.serverapp, "starter_app", None) is self:  # `jupyter merlin`: stop here
                self.log.critical(exc.message)
                sys.exit(1)
            raise  # inside JupyterLab: the extension is skipped with this message, Lab still runs
        if self.team_mode:
            # As jupyterhub-singleuser does: the hub's identity provider decides whether a request
            # is token-authenticated only once it ran, so the XSRF check must wait for Jupyter's
            # own (after authentication) instead of tornado's (before it).
            self.settings["xsrf_cookies"] = False  # copied into the web app's settings
        base_url = self.serverapp.base_url
        tracking_uri, host = self.mlflow_tracking_uri, None
        if not tracking_uri:
            mlflow_dir = os.path.join(self.data_dir, "mlflow")
            private_dir(mlflow_dir)
            if is_postgresql(self.db_url):  # shared by every replica (shared_state.py)
                store_uri = mlflow_store_uri(self.db_url)
            else:
                private_file(os.path.join(mlflow_dir, "mlflow.db"))
                store_uri = "sqlite:///" + os.path.join(mlflow_dir, "mlflow.db")
            artifact_root = self.mlflow_artifact_root or os.path.join(mlflow_dir, "artifacts")
            host = MlflowHost(store_uri, artifact_root, url_path_join(base_url, "merlin/mlflow"),
                              run_dir=os.path.join(mlflow_dir, "run"), idle_stop=self.mlflow_idle_stop)
            host.start(preload=self.mlflow_preload)
            tracking_uri = url_path_join(self.public_url or self._server_url(), "merlin/mlflow")
        self.mlflow_host = host
        if not self.db_url:
            for name in ("merlin.db", "merlin.db-wal", "merlin.db-shm"):  # SQLite's -wal/-shm
                if name == "merlin.db" or os.path.exists(os.path.join(self.data_dir, name)):  # copy its mode
                    private_file(os.path.join(self.data_dir, name))
        self.control_plane = ControlPlane(
            Settings(
                db_url=self.db_url or "sqlite:///" + os.path.join(self.data_dir, "merlin.db"),
                tracking_uri=tracking_uri,
                state_dir=self.data_dir,
                mlflow_host=host,
                environments=list(self.environments),
                local_environment=dict(self.local_environment),
                python=self.model_server_python or sys.executable,
                host=self.model_server_host,
                pending_timeout=self.pending_timeout,
                restart_backoff=self.restart_backoff,
                hostname=self.hostname,
                team_mode=self.team_mode,
                metrics_interval=self.metrics_interval,
                metrics_retention=self.metrics_retention,
                deployer_options={"router_port": self.local_router_port,
                                  "standby": self.warm_standby,
                                  "env_allowlist": list(self.model_server_env_allowlist),
                                  "request_log_max_age": self.request_log_max_age,
                                  "request_log_max_bytes": self.request_log_max_bytes,
                                  "scale_to_zero_after": self.scale_to_zero_after,
                                  "autoscale_window": self.autoscale_window,
                                  **self.deployer_options},
            )
        )
        self.settings.update({"merlin": self.control_plane, "merlin_mlflow": host})

    def initialize_handlers(self) -> None:
        self.handlers.extend(team_route_table() if self.control_plane_url else route_table())

    def _link_team_control_plane(self) -> None:
        url = self.control_plane_url.rstrip("/") + "/"
        self.link = ControlPlaneLink(url, self.control_plane_token, self.control_plane_service, log=self.log)
        self.settings.update({"merlin_link": self.link, "merlin_link_http": team_http_client()})

    def _server_url(self) -> str:
        """The URL kernels on this machine use to reach this server."""
        app = self.serverapp
        ip = app.ip if app.ip not in ("", "0.0.0.0", "::", "localhost") else "127.0.0.1"
        scheme = "https" if app.certfile else "http"
        return f"{scheme}://{ip}:{app.port}{app.base_url}"

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        if hasattr(self, "link"):
            await self.link.connect()
            os.environ.update(self.link.kernel_environment())  # kernels inherit them
            return
        if not hasattr(self, "control_plane"):
            return  # did not load (the reason was logged)
        self.control_plane.start()
        if self.team_mode:
            # The hub service's token is its own: no kernel or script on this machine gets it.
            self.log.info("Merlin team control plane at %smerlin/api/v1 (data in %s)", self._server_url(), self.data_dir)
            return
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
        if hasattr(self, "link"):
            await self.link.close()
            return
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
