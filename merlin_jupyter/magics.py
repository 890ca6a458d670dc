"""``%merlin``: one line per step, a thin layer over the fluent SDK (``%merlin --help``)."""
from __future__ import annotations

import shlex
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import fluent
from .client import MerlinError

SUBCOMMANDS = ("connect", "project", "model", "log", "deploy", "status", "logs", "predict", "undeploy", "ls")


@magics_class
class MerlinMagics(Magics):
    """Deploy models from a notebook. Each mistake is a UsageError saying what to type instead."""

    @line_magic
    def merlin(self, line: str) -> Any:
        """%merlin <subcommand> [options]: connect, project, model, log, deploy, status, logs,
        predict, undeploy, ls. `%merlin <subcommand> --help` documents each."""
        words = shlex.split(line)
        if not words or words[0] in ("-h", "--help", "help"):
            return print(self._help())
        handler: Callable[[str], Any] | None = getattr(self, f"_{words[0]}", None)
        if words[0] not in SUBCOMMANDS or handler is None:
            raise UsageError(f"Unknown subcommand {words[0]!r}. Type one of: {', '.join(SUBCOMMANDS)} "
                             "(%merlin --help lists them).")
        try:
            return handler(line[len(words[0]):].strip())
        except MerlinError as exc:
            raise UsageError(str(exc)) from None

    def _help(self) -> str:
        lines = ["%merlin <subcommand> ... — deploy models from this notebook", ""]
        for name in SUBCOMMANDS:
            doc = (getattr(self, f"_{name}").__doc__ or "").strip().splitlines()[0]
            lines.append(f"  {name:<9} {doc}")
        return "\n".join(lines)

    def _args(self, fn: Callable, line: str) -> Any:
        try:
            return parse_argstring(fn, line)
        except SystemExit:  # --help was printed
            return None
        except UsageError as exc:
            raise UsageError(f"{exc}. Try `%merlin {fn.__name__.strip('_')} --help`.") from None

    @magic_arguments(name="merlin connect")
    @argument("url", help="the Jupyter server URL (or its .../merlin/api URL)")
    @argument("--token", default=None, help="the server's token")
    def _connect(self, line: str) -> str | None:
        """Use the control plane at URL (notebooks in JupyterLab are connected already)."""
        args = self._args(self._connect, line)
        if args:
            fluent.set_url(args.url, args.token)
            return f"connected to {fluent.get_url()}"
        return None

    @magic_arguments(name="merlin project")
    @argument("name", help="project name (created if missing)")
    def _project(self, line: str) -> Any:
        """Use (or create) a project."""
        args = self._args(self._project, line)
        return fluent.set_project(args.name) if args else None

    @magic_arguments(name="merlin model")
    @argument("name", help="model name (created if missing)")
    @argument("--type", default="pyfunc", help="sklearn, xgboost, pyfunc, ... (default pyfunc)")
    def _model(self, line: str) -> Any:
        """Use (or create) a model of the current project."""
        args = self._args(self._model, line)
        return fluent.set_model(args.name, args.type) if args else None

    @magic_arguments(name="merlin log")
    @argument("variable", help="a fitted model in the notebook's namespace")
    @argument("--sample", default=None, help="an expression giving a few input rows, e.g. X_test[:5]")
    @argument("--param", action="append", default=[], help="KEY=VALUE, may repeat")
    @argument("--metric", action="append", default=[], help="KEY=NUMBER, may repeat")
    def _log(self, line: str) -> Any:
        """Log a fitted model from the notebook as a new version."""
        args = self._args(self._log, line)
        if not args:
            return None
        namespace = self.shell.user_ns
        if args.variable not in namespace:
            raise UsageError(f"No variable {args.variable!r} in this notebook: train a model first, then "
                             f"`%merlin log <variable>`.")
        sample = self._eval(args.sample) if args.sample else None
        with fluent.new_model_version() as version:
            for key, value in _pairs(args.param, "--param"):
                fluent.log_param(key, value)
            for key, value in _pairs(args.metric, "--metric"):
                fluent.log_metric(key, float(value))
            fluent.log_model(namespace[args.variable], input_example=sample)
        return version

    def _eval(self, expression: str) -> Any:
        try:
            return eval(expression, self.shell.user_ns)  # noqa: S307 - the user's own notebook namespace
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"--sample {expression!r} could not be evaluated: {exc}") from None

    @magic_arguments(name="merlin deploy")
    @argument("version", nargs="?", type=int, default=None, help="version id (default: the latest)")
    @argument("--env", default=None, help="environment name (default: the default one)")
    @argument("--min-replica", type=int, default=None)
    @argument("--max-replica", type=int, default=None)
    @argument("--cpu", default=None, help="CPU request, e.g. 500m")
    @argument("--memory", default=None, help="memory request, e.g. 512Mi")
    @argument("--env-var", action="append", default=[], help="KEY=VALUE, may repeat")
    @argument("--no-wait", action="store_true", help="return at once instead of waiting")
    def _deploy(self, line: str) -> Any:
        """Deploy a version and wait until it runs (or say why it failed)."""
        args = self._args(self._deploy, line)
        if not args:
            return None
        resources = {k: v for k, v in {"min_replica": args.min_replica, "max_replica": args.max_replica,
                                       "cpu_request": args.cpu, "memory_request": args.memory}.items() if v is not None}
        return fluent.deploy(args.version, args.env, resources or None, dict(_pairs(args.env_var, "--env-var")),
                             wait=not args.no_wait)

    @magic_arguments(name="merlin status")
    @argument("version", nargs="?", type=int, default=None)
    def _status(self, line: str) -> Any:
        """Show a version's endpoints and their status."""
        args = self._args(self._status, line)
        return fluent.list_endpoints(args.version) if args else None

    @magic_arguments(name="merlin logs")
    @argument("version", nargs="?", type=int, default=None)
    @argument("--tail", type=int, default=50)
    def _logs(self, line: str) -> None:
        """Print the model server's last log lines."""
        args = self._args(self._logs, line)
        if args:
            print("\n".join(fluent.logs(args.version, tail=args.tail)))

    @magic_arguments(name="merlin predict")
    @argument("expression", help="instances to send, e.g. X_test[:3]")
    @argument("--version", type=int, default=None)
    def _predict(self, line: str) -> Any:
        """Send instances to the version's running endpoint."""
        args = self._args(self._predict, line)
        if not args:
            return None
        live = [e for e in fluent.list_endpoints(args.version) if e.status in ("running", "serving")]
        if not live:
            raise UsageError("That version has no running endpoint: `%merlin deploy` it first.")
        return live[0].predict(self._eval(args.expression))

    @magic_arguments(name="merlin undeploy")
    @argument("version", nargs="?", type=int, default=None)
    @argument("--env", default=None)
    def _undeploy(self, line: str) -> str | None:
        """Stop a version's endpoint."""
        args = self._args(self._undeploy, line)
        if args:
            fluent.undeploy(args.version, args.env)
            return "undeployed"
        return None

    @magic_arguments(name="merlin ls")
    @argument("what", nargs="?", default="versions", choices=["projects", "models", "versions", "environments"])
    def _ls(self, line: str) -> Any:
        """List projects, models, versions (default) or environments."""
        args = self._args(self._ls, line)
        if not args:
            return None
        return {"projects": fluent.list_projects, "models": fluent.list_models,
                "versions": fluent.list_versions, "environments": fluent.list_environments}[args.what]()


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        if "=" not in item:
            raise UsageError(f"{flag} takes KEY=VALUE, not {item!r}.")
        key, value = item.split("=", 1)
        pairs.append((key, value))
    return pairs
