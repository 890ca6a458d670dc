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

SUBCOMMANDS = ("connect", "project", "model", "log", "deploy", "status", "logs", "requests", "predict",
               "traffic", "rollback", "undeploy", "ls", "metrics", "rollout", "alert")


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
        flavors.detect(model)  # fails before anything else if it cannot be logged
        sample = self._eval(args.sample, "--sample") if args.sample else None
        metrics = {key: _number(value, key) for key, value in _pairs(args.metric, "--metric")}
        params = {**flavors.estimator_params(model), **dict(_pairs(args.param, "--param"))}
        try:  # the model is checked before the version is created: a failure leaves none behind
            version = fluent.log_version(model, sample, params, metrics)
        except MerlinError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed log is said in words, never a traceback
            raise UsageError(f"{args.variable} was not logged ({type(exc).__name__}: {exc}). No version was "
                             "created; fix the model or its --sample and log it again.") from None
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
    @argument("--log-requests", default=None, choices=["all", "request", "response"],
              help="log each prediction's request and response (all), or one of them")
    @argument("--log-sample", type=float, default=None, help="the share of predictions logged, e.g. 0.1")
    def _deploy(self, line: str) -> Any:
        """Deploy a version and wait until it runs (or say why it failed)."""
        args = self._args(self._deploy, line)
        logger = request_logger(args.log_requests, args.log_sample)
        resources = {k: v for k, v in {"min_replica": args.min_replica, "max_replica": args.max_replica,
                                       "cpu_request": args.cpu, "memory_request": args.memory}.items() if v is not None}
        result = deployments.deploy(
            args.version, args.env, resources or None, dict(_pairs(args.env_var, "--env-var")),
            wait=not args.no_wait, dry_run=args.dry_run, check=self.check and not args.no_check,
            logger=logger)
        if args.dry_run:
            print(result)
            return None
        return result

    @magic_arguments(name="merlin status")
    @argument("version", nargs="?", type=version_number, default=None, help="default: the current or latest version")
    def _status(self, line: str) -> Any:
        """Show a version's endpoints and their status, as a table (and firing alerts)."""
        from .observe import firing_lines

        endpoints = fluent.list_endpoints(self._args(self._status, line).version)
        for sentence in firing_lines():
            print(sentence)
        return endpoints

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

    @magic_arguments(name="merlin requests")
    @argument("version", nargs="?", type=version_number, default=None, help="the endpoint's version, e.g. 2 or v2")
    @argument("--last", type=int, default=20, help="how many of the latest requests (default 20)")
    @argument("--since", default=None, help="e.g. 30m, 1h, 7d or an ISO time")
    @argument("--status", default=None, help="a code (503), a class (5xx), ok or error")
    @argument("--env", default=None, help="environment name (default: the latest deploy)")
    def _requests(self, line: str) -> Any:
        """Show the endpoint's latest logged requests and responses, as a table."""
        from .request_logs import requests

        args = self._args(self._requests, line)
        if args.last < 1:
            raise UsageError(f"--last {args.last}: give how many requests to show, e.g. --last 20.")
        return requests(args.version, args.env, since=args.since, status=args.status, limit=args.last)

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


    # -- what a deployed model does (observe.py) ------------------------------------------------
    @magic_arguments(name="merlin metrics")
    @argument("version", nargs="?", type=version_number, default=None, help="a version (default: the model endpoint)")
    @argument("--since", default="30m", help="how far back, e.g. 90s, 30m, 1h (default 30m)")
    @argument("--env", default=None)
    def _metrics(self, line: str) -> Any:
        """Requests/s, error rate and latency over time, as charts (and a DataFrame)."""
        from . import observe

        args = self._args(self._metrics, line)
        if args.version is None:
            return observe.metrics(args.since, args.env)
        live = [e for e in fluent.list_endpoints(args.version) if e.status in ("running", "serving")]
        if not live:
            raise UsageError(f"Version {args.version} has no running endpoint: `%merlin deploy v{args.version}` first.")
        return live[0].metrics(args.since)

    @magic_arguments(name="merlin rollout")
    @argument("version", nargs="?", type=version_number, default=None, help="the version to roll out, e.g. v2")
    @argument("--steps", default="10,50,100", help="its share at each step, e.g. 10,50,100")
    @argument("--bake", default="2m", help="how long each step holds, e.g. 2m or 90s")
    @argument("--max-error-rate", default=None, help="roll back above this error rate, e.g. 1%%")
    @argument("--max-p50", default=None, help="roll back above this p50 latency, e.g. 20ms")
    @argument("--max-p95", default=None, help="... p95 latency")
    @argument("--max-p99", default=None, help="... p99 latency, e.g. 50ms")
    @argument("--min-requests", type=int, default=20, help="judge nothing on fewer requests (default 20)")
    @argument("--pause", action="store_true", help="hold the running rollout's step")
    @argument("--resume", action="store_true")
    @argument("--abort", action="store_true", help="stop it; traffic back to the rule before it")
    @argument("--env", default=None)
    def _rollout(self, line: str) -> Any:
        """Move traffic to a version step by step; rolled back by itself if it does worse."""
        from .observe_magics import rollout

        return rollout(self._args(self._rollout, line))

    @magic_arguments(name="merlin alert")
    @argument("metric", nargs="?", default=None, help="throughput, latency, error_rate, cpu or memory (none: list)")
    @argument("threshold", nargs="?", default=None, help="e.g. 5%% (error_rate), 200ms (latency), 1 (requests/s)")
    @argument("--for", dest="duration", default="1m", help="how long it must hold, e.g. 1m (default)")
    @argument("--percentile", type=int, default=None, help="latency percentile: 50, 95 or 99 (default 99)")
    @argument("--severity", default="WARNING", choices=["WARNING", "CRITICAL"])
    @argument("--env", default=None)
    def _alert(self, line: str) -> Any:
        """Alert on the model endpoint (no arguments: list alerts and their state)."""
        from .observe_magics import alert

        return alert(self._args(self._alert, line))


def request_logger(mode: str | None, sample: float | None) -> Any:
    """The Logger ``--log-requests`` and ``--log-sample`` ask for (None: neither given)."""
    from .logger import Logger, LoggerConfig, LoggerMode

    if mode is None and sample is None:
        return None
    if sample is not None and not 0 < sample <= 1:
        raise UsageError(f"--log-sample {sample:g}: give the share of predictions to log, above 0 and at "
                         "most 1, e.g. --log-sample 0.1.")
    return Logger(model=LoggerConfig(enabled=True, mode=LoggerMode(mode or "all"),
                                     sample_rate=1.0 if sample is None else sample))


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
