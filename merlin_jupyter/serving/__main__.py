"""``python -m merlin_jupyter.serving``: serve one model over HTTP (V1 and V2 protocols).

If the model cannot be served, the last line of stderr starts with ``merlin-serving: failed:``
and says why in words, and the process exits with a non-zero code.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback

# Before any numeric library loads: workers are processes, one per core, so a thread pool in
# each would only oversubscribe the cores; and OpenMP's pool does not survive fork (LightGBM and
# XGBoost models hang in a forked worker when the model was loaded, and predicted, before it).
# A value already in the environment wins.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

FAILED = "merlin-serving: failed:"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m merlin_jupyter.serving", description=__doc__)
    parser.add_argument("--model-uri", required=True, help="MLflow model directory or URI")
    parser.add_argument("--model-name", required=True, help="name served under /v1/models/{name}")
    parser.add_argument("--host", default=os.environ.get("MERLIN_SERVING_HOST", "127.0.0.1"),
                        help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    parser.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024,
                        help="larger request bodies are refused with 413 (default 8 MiB)")
    parser.add_argument("--share-port", action="store_true",
                        help="bind even if another revision of this endpoint listens on the port "
                             "(SO_REUSEPORT), so a redeploy keeps the endpoint's URL")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds in-flight requests get to finish on SIGTERM")
    return parser.parse_args(argv)


def fail(reason: str, code: int = 2) -> None:
    """Say why on one line (the control plane shows it to the user), then exit."""
    reason = " ".join(reason.split())
    if len(reason) > 800:
        reason = reason[:797] + "..."
    print(f"{FAILED} {reason}", file=sys.stderr, flush=True)
    sys.exit(code)


def build(args: argparse.Namespace):
    """Load and check the model, then return a factory of the app each worker serves."""
    from . import loader, metrics
    from .errors import LoadFailed

    metrics.prepare(tempfile.mkdtemp(prefix=f"merlin-metrics-{args.port}-"))
    from .app import make_app, PredictHandler
    from .dataplane import DataPlane

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
    # Called in each forked worker, whose parent is the supervisor the control plane knows by pid.
    return (lambda: make_app(plane, meter, args.max_body_bytes, server_id=str(os.getppid()))), \
        meter, PredictHandler


def serve(args: argparse.Namespace) -> int:
    from .workers import Supervisor, check_port_free

    try:
        check_port_free(args.host, args.port, shared=args.share_port)
    except OSError as exc:
        fail(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); choose another port.")
    factory, meter, handler = build(args)
    workers = args.workers or os.cpu_count() or 1
    logging.getLogger("merlin.serving").info(
        "serving %s on http://%s:%s with %d worker(s)", args.model_name, args.host, args.port, workers)
    supervisor = Supervisor(factory, args.host, args.port, workers, args.grace,
                            on_death=meter.worker_died, active=lambda: handler.active)
    return supervisor.run()


def main(argv: list[str]) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no background threads before fork
    if argv[:1] == ["--standby"]:
        from .standby import become, wait_for_assignment, warm_up

        warm_up()
        argv = become(wait_for_assignment(argv[1]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        sys.exit(serve(parse_args(argv)))
    except Exception as exc:  # noqa: BLE001 - the reason in words is always the last line
        traceback.print_exc()
        fail(f"the model server stopped unexpectedly: {type(exc).__name__}: {exc}", code=1)


if __name__ == "__main__":
    main(sys.argv[1:])
