"""Isolated Python environments for local model servers.

A model whose recorded requirements (MLflow's ``requirements.txt``, else the pip list of its
``conda.yaml``) are not all met by the server's own environment is served from a virtualenv
built from those requirements plus the model server's own, keyed by their hash under
``{data_dir}/envs`` and reused by every later deploy with the same requirements.

The build runs in the endpoint's own detached process (this file, run by path with the
server's Python, stdlib only): it writes its progress to the endpoint's log, builds or reuses
the environment under a file lock, then ``exec``s the model server with the environment's
Python. So the process the local deployer watches (pid, log, exit code) is the same before and
after the build, a build survives a Jupyter restart like any model server, and a failed build
ends the process with the reason on its last line, as a model server that cannot load does.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

# What this project's model server itself imports, on top of the model's requirements. MLflow 1.x
# imports pkg_resources, which setuptools 81 removed.
SERVING_REQUIREMENTS = ("tornado>=6.4", "prometheus_client>=0.20", "mlflow", "setuptools<81")
# Merlin's own model servers, which merlin-sdk records as requirements of a pyfunc model: this
# project's model server takes their place, but the model's class still derives from
# merlin-sdk's PyFuncModel, so the SDK itself is what the model needs.
REPLACED = {"merlin-pyfunc-server": "merlin-sdk", "merlin-batch-predictor": "merlin-sdk"}
PROGRESS = "merlin-env:"  # log lines the local deployer shows as the endpoint's progress
FAILED = "merlin-serving: failed:"
COMPLETE = ".merlin-env-complete"


@dataclass
class EnvPlan:
    """An isolated environment a model needs: where it lives and what goes in it."""

    path: str
    requirements: list[str]
    reason: str  # which recorded requirements the server's environment does not meet

    @property
    def python(self) -> str:
        return os.path.join(self.path, "bin", "python")


# -- the control plane's side: does this model need its own environment? -----------------------
def recorded_requirements(model_dir: str) -> list[str] | None:
    """The model's recorded pip requirements, or None when it recorded none."""
    path = os.path.join(model_dir, "requirements.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            lines = [line.split("#", 1)[0].strip() for line in handle]
        return [line for line in lines if line and not line.startswith("-")]
    conda = os.path.join(model_dir, "conda.yaml")
    if os.path.exists(conda):
        import yaml

        with open(conda, encoding="utf-8") as handle:
            env = yaml.safe_load(handle) or {}
        for dependency in env.get("dependencies") or []:
            if isinstance(dependency, dict) and isinstance(dependency.get("pip"), list):
                pip = [str(item).strip() for item in dependency["pip"]]
                return [item for item in pip if not item.startswith("-")]
        return []
    return None


# XGBoost 3 reads only its JSON and UBJSON model formats (both start with "{"); a model.bst in
# the binary format (what Booster.save_model wrote to a .bst before 2.0, as in Merlin's standard
# layout) needs XGBoost 2, which still reads it. xgboost-cpu is the same package without the
# CUDA libraries (185 MB instead of about 1 GB).
LEGACY_XGBOOST = (["xgboost<3"], ["xgboost-cpu>=2.1,<3"])


def format_requirements(model_dir: str) -> tuple[list[str] | None, list[str] | None]:
    """What a model in Merlin's standard layout (no recorded requirements) needs because of
    its file's format: (the requirement this server's environment is checked against, what an
    isolated environment installs for it), or (None, None)."""
    path = os.path.join(model_dir, "model.bst")
    if not os.path.isfile(path):
        return None, None
    with open(path, "rb") as handle:
        if handle.read(1) == b"{":
            return None, None
    return list(LEGACY_XGBOOST[0]), list(LEGACY_XGBOOST[1])


def unmet(requirements: list[str]) -> list[str]:
    """The requirements the running interpreter's installed packages do not satisfy."""
    from importlib import metadata

    from packaging.requirements import InvalidRequirement, Requirement

    missing = []
    for line in requirements:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            missing.append(line)  # a URL or a local path: only pip can tell
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(line)
            continue
        specifier = requirement.specifier
        if specifier and not specifier.contains(installed, prereleases=True):
            missing.append(f"{line} (this server has {installed})")
    return missing


def environment_requirements(requirements: list[str]) -> list[str]:
    """The model's requirements with Merlin's servers replaced, plus the model server's own."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    result: list[str] = []
    for line in requirements:
        try:
            name = canonicalize_name(Requirement(line).name)
        except InvalidRequirement:
            name = ""
        result.append(REPLACED.get(name, line))
    names = set()
    for line in result:
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            pass
    result += [r for r in SERVING_REQUIREMENTS
               if canonicalize_name(Requirement(r).name) not in names]
    return list(dict.fromkeys(result))


def plan(model_dir: str | None, envs_root: str) -> EnvPlan | None:
    """The environment a model in ``model_dir`` needs, or None when this server's will do.

    "This server's" is the control plane's interpreter; a different
    ``MerlinApp.model_server_python`` is assumed to hold the same packages.
    """
    if not model_dir or not os.path.isdir(model_dir):
        return None  # remote artifacts: the model server reads them with the server's MLflow
    recorded = recorded_requirements(model_dir)
    installs = None
    if not recorded:
        recorded, installs = format_requirements(model_dir)
    if not recorded:
        return None
    missing = unmet(recorded)
    if not missing:
        return None
    requirements = environment_requirements(installs or recorded)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256("\n".join([python, *sorted(requirements)]).encode()).hexdigest()[:16]
    return EnvPlan(os.path.join(envs_root, f"py{python}-{key}"), requirements,
                   "this server's environment lacks " + ", ".join(missing))


def builder_command(python: str, env: EnvPlan, serve_args: list[str]) -> list[str]:
    """The endpoint's command: build (or reuse) ``env``, then become the model server."""
    return [python, os.path.abspath(__file__), env.path, env.reason, *env.requirements,
            "--", *serve_args]


# -- the endpoint process's side: build, then exec the model server ----------------------------
def say(message: str) -> None:
    print(f"{PROGRESS} {message}", flush=True)


def _installer() -> list[str] | None:
    """uv beside this interpreter or on PATH (fast, shares its download cache), else None (pip)."""
    beside = os.path.join(os.path.dirname(sys.executable), "uv")
    if os.path.exists(beside):
        return [beside]
    found = shutil.which("uv")
    return [found] if found else None


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.stdout:
        print(proc.stdout.rstrip(), flush=True)
    if proc.returncode != 0:
        last = [line.strip() for line in (proc.stdout or "").splitlines() if line.strip()][-3:]
        raise RuntimeError(" ".join(last) or f"{cmd[0]} exited with code {proc.returncode}")


def build(path: str, requirements: list[str]) -> None:
    shutil.rmtree(path, ignore_errors=True)  # a half-built environment from an interrupted build
    uv = _installer()
    python = os.path.join(path, "bin", "python")
    if uv:
        _run([*uv, "venv", "-q", "--python", sys.executable, path])
        _run([*uv, "pip", "install", "--python", python, *requirements])
    else:
        _run([sys.executable, "-m", "venv", path])
        _run([python, "-m", "pip", "install", "-q", *requirements])
    _link_serving_code(python)
    with open(os.path.join(path, COMPLETE), "w", encoding="utf-8") as handle:
        handle.write("\n".join(requirements) + "\n")


def _link_serving_code(python: str) -> None:
    """Make this project's model server importable without installing its other dependencies:
    a directory holding only a link to the ``merlin_jupyter`` package, named in a .pth file."""
    import merlin_jupyter

    package = os.path.dirname(os.path.abspath(merlin_jupyter.__file__))
    env = os.path.dirname(os.path.dirname(python))
    source = os.path.join(env, "merlin-serving-src")
    os.makedirs(source, exist_ok=True)
    # Replaced in one rename, so a server starting meanwhile sees the old link or the new one.
    link = os.path.join(source, "merlin_jupyter")
    fresh = f"{link}.{os.getpid()}"
    if os.path.lexists(fresh):
        os.unlink(fresh)
    os.symlink(package, fresh)
    os.replace(fresh, link)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([python, "-c", purelib], capture_output=True, text=True,
                          check=True).stdout.strip()
    with open(os.path.join(site, "merlin_jupyter_serving.pth"), "w", encoding="utf-8") as handle:
        handle.write(source + "\n")


def ensure(path: str, requirements: list[str]) -> str:
    """Build the environment unless a finished one exists; one builder at a time per path."""
    import fcntl

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        if not os.path.exists(os.path.join(path, COMPLETE)):
            say("waiting for another deploy building the same environment")
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(path, COMPLETE)):
            say(f"reusing the isolated environment {path}")
            # The model server code is this control plane's: an environment built by another
            # checkout or an older install must not run (or miss) that one's code.
            _link_serving_code(os.path.join(path, "bin", "python"))
        else:
            say(f"building an isolated environment with {len(requirements)} requirements "
                "(once; later deploys with the same requirements reuse it)")
            build(path, requirements)
            say("environment built")
    return os.path.join(path, "bin", "python")


def main(argv: list[str]) -> None:
    split = argv.index("--")
    path, reason, requirements, serve_args = argv[0], argv[1], argv[2:split], argv[split + 1:]
    say(f"this model runs in its own environment: {reason}")
    try:
        python = ensure(path, requirements)
    except Exception as exc:  # noqa: BLE001 - the reason in words is the last line
        print(f"{FAILED} could not build the model's Python environment ({exc}). Its "
              f"requirements: {', '.join(requirements)}. Fix them (or install them into the "
              "server's environment) and deploy again.", flush=True)
        sys.exit(3)
    say("starting the model server in it")
    # The installers' settings (index URLs may hold credentials) were for the build only.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
           and not k.startswith(("PIP_", "UV_"))}
    os.execve(python, [python, "-m", "merlin_jupyter.serving", *serve_args], env)


if __name__ == "__main__":
    main(sys.argv[1:])
