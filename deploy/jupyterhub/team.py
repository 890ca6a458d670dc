"""`make team`: a JupyterHub with demo users alice and bob and the Merlin service, on 127.0.0.1.

The control plane's database is PostgreSQL when this machine has it (initdb/pg_ctl, Debian's
`postgresql`) and the psycopg driver is installed: a cluster of its own in the state directory
on a free port, as the `postgres` OS user when run as root. Otherwise SQLite, and it says so.
State lives in deploy/jupyterhub/.team (MERLIN_TEAM_DIR); Ctrl-C stops everything it started.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx

HERE = pathlib.Path(__file__).resolve().parent
STATE = pathlib.Path(os.environ.get("MERLIN_TEAM_DIR", HERE / ".team")).resolve()
HUB_PORT = int(os.environ.get("MERLIN_HUB_PORT", "8000"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: its tools run as the postgres OS user then.
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


def start_postgres() -> tuple[str, pathlib.Path | None]:
    """(SQLAlchemy URL, data directory) of a running PostgreSQL, or ("", None) for SQLite."""
    try:
        import psycopg  # noqa: F401 - the driver the control plane's postgresql+psycopg URL needs
    except ImportError:
        print("PostgreSQL: the psycopg driver is not installed here; the control plane uses SQLite.")
        return "", None
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        print("PostgreSQL: initdb/pg_ctl not found (apt-get install postgresql); the control plane uses SQLite.")
        return "", None
    data = STATE / "postgres"
    port = _free_port()
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            shutil.chown(data, "postgres")
        subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "merlin", "--auth=trust", "-E", "UTF8"]),
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-w", "-o",
                                 f"-h 127.0.0.1 -p {port} -k {data}", "start"]), check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(_as_postgres(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "merlin", "merlin"]),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # exists already after a restart
    print(f"PostgreSQL: a cluster in {data} on 127.0.0.1:{port} holds the control plane's database.")
    return f"postgresql+psycopg://merlin@127.0.0.1:{port}/merlin", data


def stop_postgres(data: pathlib.Path | None) -> None:
    if data is not None:
        subprocess.run(_as_postgres([shutil.which("pg_ctl") or "pg_ctl", "-D", str(data), "-m", "fast", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_hub(proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{HUB_PORT}/services/merlin/merlin/api/v1/projects"
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 401:  # the service answers
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"The hub did not come up: see {STATE / 'jupyterhub.log'}")


def main() -> None:
    # Ctrl-C, and a plain kill too, end in the clean-up below (even when started in the background).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    STATE.mkdir(parents=True, exist_ok=True)
    db_url, pg_data = start_postgres()
    env = dict(os.environ, MERLIN_TEAM_DIR=str(STATE), MERLIN_HUB_PORT=str(HUB_PORT),
               MERLIN_TEAM_DB_URL=db_url, PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    log = open(STATE / "jupyterhub.log", "ab")
    hub = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(HERE / "jupyterhub_config.py")],
                           cwd=STATE, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_hub(hub)
        url = f"http://127.0.0.1:{HUB_PORT}"
        print(f"""
JupyterHub with the team's Merlin control plane is running at {url}/ (log: {STATE / 'jupyterhub.log'})

  Log in as alice:  open {url}/hub/login, user name alice, password merlin
  Log in as bob:    the same with user name bob (a second browser profile or a private window)

Each user's JupyterLab has the Merlin panel, %merlin and the SDK, all working against the one
control plane at {url}/services/merlin/ as that user. A project is seen only by its members:
alice creates one, adds bob to its readers (panel, or PUT /projects/{{id}}), and bob sees it.
A script's token: {url}/hub/token (it needs the scope access:services!service=merlin).
Ctrl-C stops the hub, the users' servers, the Merlin service{' and PostgreSQL' if pg_data else ''}.
""", flush=True)
        hub.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)  # the hub stops the users' servers and the service
            try:
                hub.wait(60)
            except subprocess.TimeoutExpired:
                hub.kill()
        stop_postgres(pg_data)


if __name__ == "__main__":
    main()
