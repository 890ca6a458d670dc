"""``python -m merlin_jupyter.serving``: serve one model over HTTP (V1 and V2 protocols).

If the model cannot be served, the last line of stderr starts with ``merlin-serving: failed:``
and says why in words, and the process exits with a non-zero code.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

# Before any numeric library loads: workers are processes, one per core, so a thread pool in
# each would only oversubscribe the cores; and OpenMP's pool does not survive fork (LightGBM and
# XGBoost models hang in a forked worker when the model was loaded, and predicted, before it).
# A value already in the environment wins.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

FAILED = "merlin-serving: failed:"
METRICS = ("concurrency", "rps", "cpu_utilization", "memory_utilization")

from . import request_log  # noqa: E402 - after the thread settings; imports nothing heavy


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m merlin_jupyter.serving", description=__doc__)
    parser.add_argument("--model-uri", required=True, help="MLflow model directory or URI")
    parser.add_argument("--model-name", required=True, help="name served under /v1/models/{name}")
    parser.add_argument("--host", default=os.environ.get("MERLIN_SERVING_HOST", "127.0.0.1"),
                        help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=0,
                        help="a fixed number of worker processes (default: one per core, unless "
                             "--min-workers/--max-workers are given)")
    parser.add_argument("--min-workers", type=int, default=None,
                        help="autoscale between this many workers (0: scale to zero when idle) ...")
    parser.add_argument("--max-workers", type=int, default=None, help="... and this many")
    parser.add_argument("--scale-metric", choices=METRICS, default="concurrency",
                        help="what the autoscaler measures (Merlin's autoscaling_policy.metrics_type)")
    parser.add_argument("--scale-target", type=float, default=1.0,
                        help="its target per worker (requests in flight, requests/s, or percent CPU)")
    parser.add_argument("--scale-window", type=float, default=60.0,
                        help="seconds the autoscaler averages over before removing a worker")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="with --min-workers 0: seconds without a request before scaling to zero")
    parser.add_argument("--state-file", default="",
                        help="where the autoscaler writes its worker count and wakes (JSON)")
    parser.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024,
                        help="larger request bodies are refused with 413 (default 8 MiB)")
    parser.add_argument("--share-port", action="store_true",
                        help="bind even if another revision of this endpoint listens on the port "
                             "(SO_REUSEPORT), so a redeploy keeps the endpoint's URL")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds in-flight requests get to finish on SIGTERM")
    request_log.add_arguments(parser)
    return parser.parse_args(argv)


def fail(reason: str, code: int = 2) -> None:
    """Say why on one line (the control plane shows it to the user), then exit."""
    reason = " ".join(reason.split())
    if len(reason) > 800:
        reason = reason[:797] + "..."
    print(f"{FAILED} {reason}", file=sys.stderr, flush=True)
    sys.exit(code)


def load(args: argparse.Namespace):
    """Load and check the model: (data plane, metrics), or exit saying why it cannot be served."""
    from . import loader, metrics
    from .dataplane import DataPlane
    from .errors import LoadFailed

    try:
        plane = DataPlane(loader.load(args.model_uri), args.model_name)
        plane.check_ready()
    except LoadFailed as exc:
        if exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        fail(exc.reason)
    meter = metrics.Metrics()
    meter.load_seconds.set(plane.model.load_seconds)
    logging.getLogger("merlin.serving").info(
        "loaded %s (%s) in %.0f ms", args.model_uri, plane.model.flavor, plane.model.load_seconds * 1000)
    return plane, meter


def build(args: argparse.Namespace, counter=None, logged=None):
    """Load the model once here, then return a factory of the app each forked worker serves."""
    from .app import make_app, PredictHandler

    plane, meter = load(args)
    if counter is not None:
        meter.inflight = counter(meter.inflight)
    # Called in each forked worker, whose parent is the supervisor the control plane knows by pid.
    return (lambda: request_log.install(make_app(plane, meter, args.max_body_bytes, server_id=str(os.getppid())),
                                        logged)), meter, PredictHandler


def lazy(args: argparse.Namespace, counter, logged=None):
    """A factory whose every worker loads the model itself (the supervisor never holds it, so
    an endpoint scaled to zero keeps nothing of the model in memory)."""
    from .app import make_app, PredictHandler
    from .metrics import Metrics

    def make():
        plane, meter = load(args)
        meter.inflight = counter(meter.inflight)
        return request_log.install(make_app(plane, meter, args.max_body_bytes, server_id=str(os.getppid())),
                                   logged)

    return make, Metrics, PredictHandler


def check_in_child(args: argparse.Namespace) -> None:
    """Load and predict the example in a throwaway child: a model that cannot be served fails
    the deploy now, in words, though no worker of a scale-to-zero endpoint holds it yet."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            load(args)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(2)  # it said why on its last line


def policy_of(args: argparse.Namespace):
    from .autoscale import Policy

    if args.workers or (args.min_workers is None and args.max_workers is None):
        count = args.workers or os.cpu_count() or 1
        return Policy(count, count)
    low = max(0, args.min_workers if args.min_workers is not None else 1)
    high = max(low, 1, args.max_workers if args.max_workers is not None else low)
    return Policy(low, high, args.scale_metric, args.scale_target, args.scale_window, args.idle_seconds)


def serve(args: argparse.Namespace) -> int:
    from . import metrics
    from .autoscale import CountingGauge, Load, ScalingSupervisor
    from .balance import shared_socket
    from .workers import check_port_free

    try:
        check_port_free(args.host, args.port, shared=args.share_port)
    except OSError as exc:
        fail(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); choose another port.")
    try:
        logged = request_log.config_from(args)  # before the model loads: a mistake is said at once
    except ValueError as exc:
        fail(str(exc))
    metrics.sweep()  # what killed servers left
    owner = os.getpid()
    directory = metrics.make_directory(args.port, owner)
    metrics.prepare(directory)
    try:
        policy, shared = policy_of(args), Load()
        counter = lambda gauge: CountingGauge(gauge, shared)  # noqa: E731
        waker = None
        if policy.low == 0:
            # Warm here (already done when forked from the template), so neither the check nor
            # a waking worker pays seconds of imports; the model itself stays out of this process.
            from . import app, dataplane, loader, standby  # noqa: F401

            standby.warm_once()
            check_in_child(args)
            factory, meter, handler = lazy(args, counter, logged)
            waker = shared_socket(args.host, args.port)  # held while no worker runs
        else:
            factory, meter, handler = build(args, counter, logged)
        scaling = "" if policy.low == policy.high else \
            f" (autoscaling {policy.low}-{policy.high} by {policy.metric}, target {policy.target:g})"
        logging.getLogger("merlin.serving").info(
            "serving %s on http://%s:%s with %d worker(s)%s", args.model_name, args.host, args.port,
            policy.initial, scaling)
        supervisor = ScalingSupervisor(factory, args.host, args.port, policy, shared, waker,
                                       args.state_file, grace=args.grace,
                                       on_death=meter.worker_died, active=lambda: handler.active)
        return supervisor.run()
    finally:
        if os.getpid() == owner:  # not in a forked child that got here
            metrics.remove_directory(directory)


def main(argv: list[str]) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no background threads before fork
    if argv[:1] == ["--standby"]:
        from .standby import become, wait_for_assignment, warm_up

        parent = os.getppid()  # the control plane: without it, a stand-by has no one to serve
        warm_up()
        argv = become(wait_for_assignment(argv[1], parent))
    elif argv[:1] == ["--template"]:
        from .template import run_template

        # Returns only in a model server forked from the template, with that server's arguments.
        argv = run_template(argv[1], argv[2], os.getppid())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        sys.exit(serve(parse_args(argv)))
    except Exception as exc:  # noqa: BLE001 - the reason in words is always the last line
        traceback.print_exc()
        fail(f"the model server stopped unexpectedly: {type(exc).__name__}: {exc}", code=1)


if __name__ == "__main__":
    main(sys.argv[1:])
