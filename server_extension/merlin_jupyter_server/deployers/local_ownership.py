"""Which local processes belong to this control plane, found again from the processes themselves.

Every process the local deployer starts carries markers in its environment: ``MERLIN_OWNER``
(a hash of the data directory, so two control planes on one machine never touch each other's
processes), ``MERLIN_ROLE`` (model-server, standby, router) and, for a model server,
``MERLIN_ENDPOINT=<endpoint id>:<revision>``. A model server forked from the warm template
carries the template's environment; the template writes ``<token>-<pid>.assigned`` next to its
socket before it answers, so the child is found as that endpoint's model server.

The environment of a process is what it was started with (``/proc/<pid>/environ``), so the
markers survive anything the process does later, and its workers (forked children in the same
process group) carry them too. A group whose leader died still holds its pgid, which Linux
never gives to a new process while the group exists: signalling such a group is safe.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass

import psutil

OWNER, ROLE, ENDPOINT, STANDBY = "MERLIN_OWNER", "MERLIN_ROLE", "MERLIN_ENDPOINT", "MERLIN_STANDBY"
MODEL_SERVER, STANDBY_ROLE, ROUTER = "model-server", "standby", "router"

# What a local model server may see of the control plane's environment (MerlinApp's
# model_server_env_allowlist overrides it). PIP_*/UV_* reach only the isolated-environment
# build; they are dropped before the model server itself starts (local_envs.main).
DEFAULT_ENV_ALLOWLIST = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR",
    "PYTHONPATH", "LD_LIBRARY_PATH", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "MERLIN_SERVING_*", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "PIP_*", "UV_*",
)
# Never passed on, whatever the allowlist says: they would let model code act as the user.
NEVER = ("MERLIN_TOKEN", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "JUPYTER_TOKEN",
         "MERLIN_ROUTER_TOKEN", "AWS_*", "GOOGLE_*", "AZURE_*")


def owner_id(state_dir: str) -> str:
    """The marker naming one data directory (the same across restarts of its control plane)."""
    return hashlib.sha256(os.path.realpath(state_dir).encode()).hexdigest()[:16]


def base_environ(allowlist: list[str] | tuple[str, ...] | None = None,
                 source: dict[str, str] | None = None) -> dict[str, str]:
    """The part of ``source`` (this process's environment) a local model server inherits."""
    patterns = tuple(allowlist if allowlist is not None else DEFAULT_ENV_ALLOWLIST)
    source = dict(os.environ if source is None else source)
    return {k: v for k, v in source.items()
            if any(fnmatch.fnmatchcase(k, p) for p in patterns)
            and not any(fnmatch.fnmatchcase(k, p) for p in NEVER)}


BUILD_ONLY = ("PIP_", "UV_")


def serving_environ(base: dict[str, str]) -> dict[str, str]:
    """``base`` without what only an isolated-environment build needs."""
    return {k: v for k, v in base.items() if not k.startswith(BUILD_ONLY)}


@dataclass
class Owned:
    """One process group this control plane started."""

    pgid: int
    role: str
    slot: str = ""  # "<endpoint id>:<revision>" of a model server
    leader_alive: bool = True
    started: float = 0.0  # the leader's start time
    token: str = ""  # a stand-by's or the router's token

    @property
    def endpoint(self) -> str:
        return self.slot.rpartition(":")[0]

    @property
    def revision(self) -> int | None:
        tail = self.slot.rpartition(":")[2]
        return int(tail) if tail.isdigit() else None


def assigned_path(standby_dir: str, token: str) -> str:
    return os.path.join(standby_dir, f"{token}.assigned")


def scan(owner: str, standby_dir: str) -> list[Owned]:
    """Every live process group carrying ``owner``'s marker, one entry per group."""
    groups: dict[int, Owned] = {}
    for proc in psutil.process_iter(["pid", "status", "create_time"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            env = proc.environ()
            if env.get(OWNER) != owner:
                continue
            pgid = os.getpgid(proc.pid)
        except (psutil.Error, OSError):
            continue
        found = groups.get(pgid)
        if found is None:
            role, slot, token = env.get(ROLE, ""), env.get(ENDPOINT, ""), env.get(STANDBY, "")
            if role == STANDBY_ROLE:
                # A model server forked from the template (in its own group) carries the
                # template's environment: its record, by its group, says whose server it is.
                slot = (_read(assigned_path(standby_dir, f"{token}-{pgid}"))
                        or _read(assigned_path(standby_dir, token)))
                role = MODEL_SERVER if slot else STANDBY_ROLE
            elif role == ROUTER:
                token = env.get("MERLIN_ROUTER_TOKEN", "")
            found = groups[pgid] = Owned(pgid, role, slot, leader_alive=False, token=token)
        if proc.pid == pgid:
            found.leader_alive, found.started = True, proc.info["create_time"]
    return list(groups.values())


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""

