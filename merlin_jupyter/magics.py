"""``%merlin``: one line per step, a thin layer over the fluent SDK (``%merlin --help``).

Each subcommand's grammar is declared once with ``magic_arguments``; its body calls one SDK
function. SDK errors (MerlinError) become UsageError here, once, so a mistake prints a sentence
saying what to type instead, not a traceback.
"""
from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool

from . import deployments, flavors, fluent, traffic
from .client import MerlinError

SUBCOMMANDS = ("connect", "project", "model", "log", "deploy", "status", "logs", "predict", "traffic",
               "rollback", "undeploy", "ls")


def version_number(text: str) -> int:
    """A version as typed: ``2`` or ``v2``."""
    return int(text[1:] if text[:1] in ("v", "V") else text)


version_number.__name__ = "version"  # argparse says "invalid version value: 'x'"


@magics_class
class MerlinMagics(Magics):
    """Deploy models from a notebook. Each mistake is a UsageError saying what to type instead."""

    check = Bool(True, help="Load the model in a fresh process and predict its input example before "
                            "each %merlin deploy (skip once with --no-check).").tag(config=True)

    @line_magic
    def merlin(self, line: str) -> Any:
        """%merlin <subcommand> [options]: connect, project, model, log, deploy, status, logs,
        predict, traffic, rollback, undeploy, ls. `%merlin <subcommand> --help` documents each."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"Cannot read that line ({exc}): close the quotes.") from None
        if not words or words[0] in ("-h", "--help", "help"):
            return print(self.help())
        if words[0] not in SUBCOMMANDS:
            raise UsageError(f"Unknown subcommand {words[0]!r}. Type one of: {', '.join(SUBCOMMANDS)} "
                             "(%merlin --help says what each does).")
        handler: Callable[[str], Any] = getattr(self, f"_{words[0]}")
        rest = line.strip()[len(words[0]):].strip()
        if "-h" in words[1:] or "--help" in words[1:]:
            return print(handler.parser.format_help().lstrip(":\n "))
        try:
            return handler(rest)
        except MerlinError as exc:
            raise UsageError(str(exc)) from None

    def help(self) -> str:
        lines = ["%merlin <subcommand> [options] — deploy models from this notebook", ""]
        for name in SUBCOMMANDS:
            doc = (getattr(self, f"_{name}").parser.description or "").strip().splitlines()[0]
            lines.append(f"  {name:<9} {doc}")
        lines += ["", "%merlin <subcommand> --help documents one, e.g. %merlin deploy --help."]
        return "\n".join(lines)

    def _args(self, fn: Callable, line: str) -> Any:
        try:
            return parse_argstring(fn, line)
        except UsageError as exc:
            hint = (" Quote an expression with spaces, e.g. --sample \"X_test[:, :2]\"."
                    if "unrecognized arguments" in str(exc) else "")
            raise UsageError(f"{exc}.{hint} Try `%merlin {fn.__name__.strip('_')} --help`.") from None

    # -- context -----------------------------------------------------------------------------
    @magic_arguments(name="merlin connect")
    @argument("url", help="the Jupyter server URL (or its .../merlin/api URL)")
    @argument("--token", default=None, help="the server's token")
    def _connect(self, line: str) -> str:
        """Use the control plane at URL (notebooks in JupyterLab are connected already)."""
        args = self._args(self._connect, line)
        fluent.set_url(args.url, args.token)
        return f"connected to {fluent.get_url()}"

    @magic_arguments(name="merlin project")
    @argument("name", help="project name (created if missing)")
    def _project(self, line: str) -> Any:
        """Use (or create) a project."""
        return fluent.set_project(self._args(self._project, line).name)

    @magic_arguments(name="merlin model")
    @argument("name", help="model name (created if missing)")
    @argument("--type", default="pyfunc", help="sklearn, xgboost, pyfunc, ... (default pyfunc)")
    def _model(self, line: str) -> Any:
        """Use (or create) a model of the current project."""
        args = self._args(self._model, line)
        return fluent.set_model(args.name, args.type)

    # -- versions ----------------------------------------------------------------------------
    @magic_arguments(name="merlin log")
    @argument("variable", help="a fitted model in the notebook's namespace")
    @argument("--sample", default=None, help="an expression giving a few input rows, e.g. X_test[:5]")
    @argument("--param", action="append", default=[], help="KEY=VALUE, may repeat (the estimator's own params are logged too)")
    @argument("--metric", action="append", default=[], help="KEY=NUMBER, may repeat")
    def _log(self, line: str) -> Any:
        """Log a fitted model from the notebook as a new version (flavor detected)."""
        args = self._args(self._log, line)
        namespace = self.shell.user_ns
        if args.variable not in namespace:
            raise UsageError(f"No variable {args.variable!r} in this notebook: train a model first, then "
                             f"`%merlin log <variable>`.")
        model = namespace[args.variable]
        flavors.detect(model)  # fails before a version is created if it cannot be logged
        sample = self._eval(args.sample, "--sample") if args.sample else None
        flavors.check_example(model, sample)  # a wrong sample creates no version
        metrics = [(key, _number(value, key)) for key, value in _pairs(args.metric, "--metric")]
        params = {**flavors.estimator_params(model), **dict(_pairs(args.param, "--param"))}
        with fluent.new_model_version() as version:
            fluent.log_params(params)
            for key, number in metrics:
                fluent.log_metric(key, number)
            fluent.log_model(model, input_example=sample)
        if self.check:
            from .checks import prepare

            prepare()  # the deploy that usually follows finds its checker warm
        return version

    def _eval(self, expression: str, flag: str) -> Any:
        try:
            return eval(expression, self.shell.user_ns)
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"{flag} {expression!r} could not be evaluated ({type(exc).__name__}: {exc}): "
                             "give an expression that works in a cell, e.g. X_test[:5].") from None

    # -- deployments -------------------------------------------------------------------------
    @magic_arguments(name="merlin deploy")
    @argument("version", nargs="?", type=version_number, default=None, help="version, e.g. 2 or v2 (default: the latest)")
    @argument("--env", default=None, help="environment name (default: the default one)")
    @argument("--min-replica", type=int, default=None)
    @argument("--max-replica", type=int, default=None)
    @argument("--cpu", default=None, help="CPU request, e.g. 500m")
    @argument("--memory", default=None, help="memory request, e.g. 512Mi")
    @argument("--env-var", action="append", default=[], help="KEY=VALUE, may repeat")
    @argument("--no-wait", action="store_true", help="return at once instead of waiting")
    @argument("--dry-run", action="store_true", help="print the manifests a Kubernetes deploy would apply")
    @argument("--no-check", action="store_true", help="skip loading the model in a fresh process first")
    def _deploy(self, line: str) -> Any:
        """Deploy a version and wait until it runs (or say why it failed)."""
        args = self._args(self._deploy, line)
        resources = {k: v for k, v in {"min_replica": args.min_replica, "max_replica": args.max_replica,
                                       "cpu_request": args.cpu, "memory_request": args.memory}.items() if v is not None}
        result = deployments.deploy(
            args.version, args.env, resources or None, dict(_pairs(args.env_var, "--env-var")),
            wait=not args.no_wait, dry_run=args.dry_run, check=self.check and not args.no_check)
        if args.dry_run:
            print(result)
            return None
        return result

    @magic_arguments(name="merlin status")
    @argument("version", nargs="?", type=version_number, default=None, help="default: the current or latest version")
    def _status(self, line: str) -> Any:
        """Show a version's endpoints and their status, as a table."""
        return fluent.list_endpoints(self._args(self._status, line).version)

    @magic_arguments(name="merlin logs")
    @argument("version", nargs="?", type=version_number, default=None, help="the endpoint's version, e.g. 2 or v2")
    @argument("--tail", type=int, default=50, help="how many of the last lines (default 50)")
    @argument("--env", default=None, help="environment name (default: the latest deploy)")
    @argument("--follow", "-f", action="store_true", help="keep showing new lines (a Stop button ends it)")
    def _logs(self, line: str) -> Any:
        """Print the model server's last log lines, or follow them."""
        args = self._args(self._logs, line)
        if args.follow:
            from .logview import follow

            stream = deployments.follow_logs(args.version, args.env, tail=args.tail)
            return follow(stream, f"logs of version {args.version or 'latest'}")
        print("\n".join(deployments.logs(args.version, args.env, tail=args.tail)))
        return None

    @magic_arguments(name="merlin predict")
    @argument("expression", help="instances to send, e.g. X_test[:3]")
    @argument("--version", type=version_number, default=None)
    def _predict(self, line: str) -> Any:
        """Send instances to the version's running endpoint."""
        args = self._args(self._predict, line)
        live = [e for e in fluent.list_endpoints(args.version) if e.status in ("running", "serving")]
        if not live:
            raise UsageError("That version has no running endpoint: `%merlin deploy` it first.")
        return live[0].predict(self._eval(args.expression, "predict"))

    @magic_arguments(name="merlin undeploy")
    @argument("version", nargs="?", type=version_number, default=None)
    @argument("--env", default=None)
    def _undeploy(self, line: str) -> str:
        """Stop a version's endpoint."""
        args = self._args(self._undeploy, line)
        deployments.undeploy(args.version, args.env)
        return "undeployed"

    # -- the model's stable URL --------------------------------------------------------------
    @magic_arguments(name="merlin traffic")
    @argument("weights", nargs="*", help="VERSION=PERCENT pairs adding up to 100, e.g. v1=90 v2=10")
    @argument("--mirror", type=version_number, default=None, help="a version that gets a copy of each request")
    @argument("--env", default=None, help="environment name (default: the default one)")
    def _traffic(self, line: str) -> Any:
        """Split the model endpoint's traffic between versions (no pairs: show it)."""
        args = self._args(self._traffic, line)
        if not args.weights:
            current = traffic.model_endpoint(args.env)
            if current is None:
                raise UsageError("This model serves no traffic yet: `%merlin traffic v1=100` routes its URL "
                                 "to version 1.")
            return current
        weights = {}
        for key, value in _pairs(args.weights, "traffic", example="v1=90 v2=10"):
            try:
                weights[version_number(key)] = int(value)
            except ValueError:
                raise UsageError(f"{key}={value} is not VERSION=PERCENT: type e.g. v1=90 v2=10.") from None
        return traffic.serve_traffic(weights, args.env, mirror=args.mirror)

    @magic_arguments(name="merlin rollback")
    @argument("--env", default=None, help="environment name (default: the default one)")
    def _rollback(self, line: str) -> Any:
        """Route the model endpoint back to its previous traffic rule."""
        return traffic.rollback(self._args(self._rollback, line).env)

    @magic_arguments(name="merlin ls")
    @argument("what", nargs="?", default="versions", choices=["projects", "models", "versions", "environments"])
    def _ls(self, line: str) -> Any:
        """List projects, models, versions (default) or environments, as a table."""
        args = self._args(self._ls, line)
        return {"projects": fluent.list_projects, "models": fluent.list_models,
                "versions": fluent.list_versions, "environments": fluent.list_environments}[args.what]()


def _pairs(items: list[str], flag: str, example: str = "KEY=VALUE") -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        if "=" not in item:
            raise UsageError(f"{flag} takes {example}, not {item!r}.")
        key, value = item.split("=", 1)
        pairs.append((key, value))
    return pairs


def _number(value: str, key: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"--metric {key}={value}: a metric is a number, e.g. --metric {key}=0.93.") from None
