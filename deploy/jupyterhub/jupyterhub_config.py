"""JupyterHub with the team's Merlin control plane as a hub-managed service, on one machine.

`make team` and tests/team run it as is; every setting a real install changes is read from
an environment variable here:

  MERLIN_TEAM_DIR        state: the hub's database and cookie secret, users' homes, Merlin's data
  MERLIN_TEAM_DB_URL     the control plane's database (default: SQLite in its data directory;
                         postgresql+psycopg://... for a team)
  MERLIN_HUB_PORT        the hub's public port (8000); the hub's API listens on the next one
  MERLIN_SERVICE_PORT    where the Merlin service listens (10101)
  MERLIN_TEAM_USERS      the demo users (alice,bob); MERLIN_TEAM_ADMINS: hub admins (none)
  MERLIN_TEAM_PASSWORD   the dummy authenticator's shared password (merlin)

Who may do what (JupyterHub scopes, not a table of Merlin's own):
- every user may use the Merlin service (`access:services!service=merlin`); what they may do in
  a project is Merlin's membership (administrators, readers), enforced by the service;
- a user's server may issue tokens for its own user (`tokens!user`): it asks the hub for one
  token with only `access:services!service=merlin` and gives that to its kernels.
"""
import os
import pathlib
import sys

c = get_config()  # noqa: F821 - JupyterHub's config loader defines it

here = pathlib.Path(__file__).resolve().parent
state = pathlib.Path(os.environ.get("MERLIN_TEAM_DIR", here / ".team")).resolve()
state.mkdir(parents=True, exist_ok=True)
hub_port = int(os.environ.get("MERLIN_HUB_PORT", "8000"))
service_port = int(os.environ.get("MERLIN_SERVICE_PORT", "10101"))
hub_url = f"http://127.0.0.1:{hub_port}"
allow_root = ["--allow-root"] if os.getuid() == 0 else []  # Jupyter refuses root without it

# -- the hub ----------------------------------------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = hub_port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = hub_port + 1
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(here / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub_port + 2}"

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("MERLIN_TEAM_PASSWORD", "merlin")
c.Authenticator.allowed_users = set(os.environ.get("MERLIN_TEAM_USERS", "alice,bob").split(","))
c.Authenticator.admin_users = set(filter(None, os.environ.get("MERLIN_TEAM_ADMINS", "").split(",")))

# Users' servers are local processes of this OS user, each with its own home directory.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(state / "home" / "{username}")
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.args = [f"--MerlinApp.control_plane_url={hub_url}/services/merlin/", *allow_root]

c.JupyterHub.extra_user_scopes = {"access:services!service=merlin"}
c.JupyterHub.load_roles = [
    {"name": "server", "scopes": ["users:activity!user", "access:servers!server", "tokens!user"]},
]

# -- the Merlin service: `jupyter merlin` behind the hub's OAuth --------------------------------
merlin_home = state / "merlin-service"
db_url = os.environ.get("MERLIN_TEAM_DB_URL", "")
c.JupyterHub.services = [{
    "name": "merlin",
    "url": f"http://127.0.0.1:{service_port}",
    "oauth_no_confirm": True,
    "command": [
        sys.executable, "-m", "jupyter", "merlin", "--no-browser", "--ip=127.0.0.1",
        f"--port={service_port}", "--ServerApp.port_retries=0",
        "--ServerApp.base_url=/services/merlin/",
        "--ServerApp.identity_provider_class=jupyterhub.singleuser.extension.JupyterHubIdentityProvider",
        "--MerlinApp.team_mode=True",
        f"--MerlinApp.public_url={hub_url}/services/merlin/",  # MLflow clients log through the hub
        f"--MerlinApp.data_dir={merlin_home / 'data'}",
        *([f"--MerlinApp.db_url={db_url}"] if db_url else []),
        *allow_root,
    ],
    "environment": {
        "HOME": str(merlin_home),
        "JUPYTER_CONFIG_DIR": str(merlin_home / "config"),
        "JUPYTER_DATA_DIR": str(merlin_home / "data-jupyter"),
        "JUPYTER_RUNTIME_DIR": str(merlin_home / "runtime"),
        "PATH": os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
    },
}]
