"""Checks before a deploy: the version's model, loaded in a fresh process, predicts its input example."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from . import processes
from .client import MerlinError
from .resources import ModelVersion
from .serving.loader import local_path


def model_dir(version: ModelVersion) -> str | None:
    """The local directory of the version's logged model, or None (remote, or nothing logged).

    MLflow 1.x/2.x clients log it under the run (``<artifact_uri>/model``); MLflow 3 logs a
    "logged model" with its own location, linked to the run (the control plane resolves it the
    same way before deploying).
    """
    in_run = local_path(version.artifact_uri or "")
    if in_run and os.path.exists(os.path.join(in_run, "model", "MLmodel")):
        return os.path.join(in_run, "model")
    try:
        from mlflow import MlflowClient

        from .fluent import active_model, use_tracking

        use_tracking()
        found = MlflowClient().search_logged_models(
            experiment_ids=[str(active_model().mlflow_experiment_id)],
            filter_string=f"source_run_id = '{version.mlflow_run_id}'")
    except Exception:  # noqa: BLE001 - an older tracking server: the model is not found, said by the caller
        return None
    models = sorted(found, key=lambda m: (m.name != "model", -(m.creation_timestamp or 0)))
    path = local_path(models[0].artifact_location) if models else None
    return path if path and os.path.exists(os.path.join(path, "MLmodel")) else None


def input_example_instances(version: ModelVersion, rows: int = 2) -> Any:
    """The first ``rows`` of the logged input example as V1 ``instances`` (None if unknown)."""
    path = model_dir(version)
    if path is None or not os.path.exists(os.path.join(path, "input_example.json")):
        return None
    try:
        with open(os.path.join(path, "input_example.json")) as handle:
            example = json.load(handle)
    except (OSError, ValueError):
        return None
    if isinstance(example, dict) and "columns" in example and "data" in example:
        return [dict(zip(example["columns"], row)) for row in example["data"][:rows]]
    if isinstance(example, dict) and "inputs" in example:
        example = example["inputs"]
    return example[:rows] if isinstance(example, list) else example


# -- the check in a fresh process ------------------------------------------------------------
@dataclass
class CheckResult:
    """What a fresh process made of the version's model: problems say what to do; ``warnings`` don't stop a deploy."""

    version: int
    problem: str | None = None  # None: it loaded and predicted its input example
    kind: str = ""  # "load", "dependency", "signature", "missing"
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def raise_for_errors(self) -> CheckResult:
        """Print the warnings; raise MerlinCheckError if the model would not serve."""
        import sys

        for warning in self.warnings:
            print(f"Warning: {warning}", file=sys.stderr, flush=True)
        if self.problem:
            raise MerlinCheckError(self)
        return self

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"{self.kind}: {self.problem}"
        return f"CheckResult(version={self.version}, {state}, {len(self.warnings)} warnings, {self.seconds:.1f} s)"


class MerlinCheckError(MerlinError):
    """The version's model would not serve; nothing was deployed. ``result`` has the details."""

    def __init__(self, result: CheckResult):
        super().__init__(f"Version {result.version} was not deployed: {result.problem}")
        self.result = result


def check_version(version: Any = None, timeout: float = 120.0) -> CheckResult:
    """Load the version's model in a fresh Python process and predict its input example.

    The fresh process uses the model server's own loader (``merlin_jupyter.serving.loader``), so
    what fails here would fail in the endpoint: a load error, a missing dependency (a package or
    a module the pickled model refers to), or an input example the model cannot predict. Also
    compares the model's recorded requirements with this kernel's packages (warnings only).
    """
    from .fluent import _version

    started = time.monotonic()
    version = _version(version)
    path = model_dir(version)
    if path is None:
        return CheckResult(version.id, f"it has no model this kernel can read (artifacts at {version.artifact_uri}): "
                           "log one with `%merlin log <variable>`, or deploy with --no-check for remote artifacts.",
                           "missing")
    found = _run(path, timeout)
    result = CheckResult(version.id, found.get("problem"), found.get("kind", ""), requirement_warnings(path))
    result.seconds = time.monotonic() - started
    return result


_checker: list[subprocess.Popen] = []


def prepare() -> None:
    """Start the checker process in the background, if it is not running.

    The checker warms up as the model server's stand-by does (imports MLflow, pandas and
    scikit-learn, loads a tiny model: seconds), then forks one child per model to check. A child
    holds none of the kernel's state — the point of a fresh process: a class defined only in the
    notebook is missing there, as in the endpoint — and no other model, so each check costs the
    model's own load time only.
    """
    if _checker and _checker[0].poll() is None:
        return
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what the server would have
    env.update(PYTHONUNBUFFERED="1", MLFLOW_TRACKING_URI="")
    # Started clean even when the kernel is being debugged (processes.py says why), and it exits
    # with the kernel: it serves this kernel only.
    _checker[:] = [processes.start(
        processes.python("-m", "merlin_jupyter.checks", "--serve"), env=env, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=tempfile.gettempdir(), start_new_session=True)]


def _run(path: str, timeout: float) -> dict[str, Any]:
    import selectors
    import signal

    prepare()
    proc = _checker[0]
    try:
        proc.stdin.write(path + "\n")
        proc.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            line = proc.stdout.readline() if selector.select(timeout) else None
    except OSError:
        line = ""
    if line is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return {"kind": "load", "problem": f"loading it took more than {int(timeout)} s."}
    if not line.strip():
        return {"kind": "load", "problem": f"the check process ended (exit code {proc.poll()})."}
    return json.loads(line)


def requirement_warnings(path: str) -> list[str]:
    """Pinned requirements of the model that this kernel has in another version (or not at all)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        with open(os.path.join(path, "requirements.txt")) as handle:
            lines = [line.split("#")[0].strip() for line in handle]
    except OSError:
        return []
    warnings = []
    for line in lines:
        if "==" not in line or line.startswith("-"):
            continue
        name, wanted = (part.strip() for part in line.split(";")[0].split("==", 1))
        name = name.split("[")[0]
        try:
            have = installed(name)
        except PackageNotFoundError:
            warnings.append(f"the model was logged with {name}=={wanted}, which this kernel does not have.")
            continue
        if have != wanted:
            warnings.append(f"the model was logged with {name}=={wanted}; this kernel has {name} {have}.")
    return warnings


def _classify(reason: str) -> tuple[str, str]:
    missing = re.search(r"No module named '([^']+)'", reason)
    if missing:
        module = missing.group(1)
        return "dependency", (
            f"its model needs the Python module '{module}', which a fresh process cannot import. Install "
            f"the package that provides it, or if '{module}' is your own code, log it with the model "
            "(merlin.log_pyfunc_model(..., code_dir=[...])). The loader said: " + reason)
    if "could not predict its own input example" in reason:
        detail = reason.split("the model loaded but ", 1)[-1].rstrip(". ")
        return "signature", (f"its model loaded but {detail}. Log it again with an input example it "
                             "accepts (--sample), or fix its predict().")
    return "load", f"its model cannot be loaded: {reason}"


def _check(path: str) -> dict[str, Any]:
    from .serving.dataplane import DataPlane
    from .serving.errors import LoadFailed
    from .serving.loader import load

    try:
        DataPlane(load(path), "check").check_ready()
        return {"problem": None}
    except LoadFailed as exc:
        kind, problem = _classify(exc.reason)
        return {"problem": problem, "kind": kind}
    except Exception as exc:  # noqa: BLE001 - anything else is still a reason, in words
        return {"problem": f"its model cannot be loaded: {type(exc).__name__}: {exc}", "kind": "load"}


def _serve() -> None:
    """Warm up, then for each model directory on stdin fork a child that checks it (one JSON line)."""
    from .serving.standby import warm_up

    processes.exit_with_parent()
    warm_up()
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                processes.exit_with_parent()  # the watch is a thread: a fork does not inherit it
                print(json.dumps(_check(line.strip())), flush=True)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    if sys.argv[1] == "--serve":
        _serve()
    else:  # python -m merlin_jupyter.checks <model dir>
        print(json.dumps(_check(sys.argv[1])), flush=True)
