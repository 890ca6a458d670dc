"""Request/response logging: sampled predictions written to Parquet files, off the request path.

What a request pays is bounded: a sampling draw, an id, and one append to an in-memory queue
under a lock. When the queue is full (the disk is slow, or requests arrive faster than a
worker can write them) the record is dropped and counted (``merlin_request_log_dropped`` in
``/metrics``, and a log line at most every 10 s), never waited for. A thread per worker writes
what gathered each second as one small Parquet file, and merges a worker's small files into one
segment every ``MERGE_AFTER`` files, so a query reads a few files, not thousands.

Files, all in the endpoint's directory (the control plane queries them with DuckDB):
``b-<writer>-<seq>.parquet`` one flush; ``s-<writer>-<first>-<last>.parquet`` the merge of that
writer's flushes ``first``..``last``. A segment appears before the flushes it replaces are
removed, so a reader skips flushes a segment covers (``readable_files``). Each file is written
under a temporary name and renamed, so no reader sees half a file. Retention (oldest files first,
by age and by the directory's total size) is applied by every writer.
"""
from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

MODES = ("all", "request", "response")
VIA_HEADER = "X-Merlin-Via"  # the local router says a request came through a model endpoint
ID_HEADER = "X-Request-Id"
FLUSH_INTERVAL = 1.0
MAX_QUEUED = 20_000  # records waiting for the writer, per worker
MAX_QUEUED_BYTES = 64 * 1024 * 1024
MAX_BODY = 1024 * 1024  # a longer body is logged as null (its size is still in the record)
MERGE_AFTER = 30
PRUNE_INTERVAL = 10.0
DEFAULT_MAX_AGE = 7 * 86400.0
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
FILE = re.compile(r"(?:b-(?P<bw>[0-9a-z-]+?)-(?P<seq>\d{8})|s-(?P<sw>[0-9a-z-]+?)-(?P<first>\d{8})-(?P<last>\d{8}))"
                  r"\.parquet")

log = logging.getLogger("merlin.serving")


@dataclass
class Config:
    mode: str
    sample: float
    directory: str
    version: int = 0
    max_age: float = DEFAULT_MAX_AGE
    max_bytes: int = DEFAULT_MAX_BYTES


def add_arguments(parser: Any) -> None:
    """The model server's request-log options (the local deployer sets them from the endpoint)."""
    parser.add_argument("--log-requests", choices=MODES, default=None,
                        help="log predictions: all (request and response), request or response")
    parser.add_argument("--log-sample", type=float, default=1.0,
                        help="the share of predictions logged, above 0 and at most 1 (default 1)")
    parser.add_argument("--log-dir", default=None, help="where the request log's Parquet files go")
    parser.add_argument("--log-version", type=int, default=0, help="the version this server serves")
    parser.add_argument("--log-max-age", type=float, default=DEFAULT_MAX_AGE,
                        help="seconds a request log file is kept (default 7 days)")
    parser.add_argument("--log-max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                        help="bytes the request log directory may hold; oldest files go first")


def config_from(args: Any) -> Config | None:
    """The request log asked for on the command line, or None; a bad option is said in words."""
    if not getattr(args, "log_requests", None):
        return None
    if not 0 < args.log_sample <= 1:
        raise ValueError(f"--log-sample is {args.log_sample}: give a share above 0 and at most 1, e.g. 0.1.")
    if not args.log_dir:
        raise ValueError("--log-requests needs --log-dir, the directory the request log is written to.")
    return Config(args.log_requests, args.log_sample, args.log_dir, args.log_version,
                  args.log_max_age, args.log_max_bytes)


# -- the request path ---------------------------------------------------------------------
_writers: list["Writer"] = []


def install(app: Any, config: Config | None) -> Any:
    """Log ``app``'s predictions as ``config`` says (in a worker, after the fork); returns app."""
    if config is None:
        return app
    try:
        writer = Writer(config)
    except ImportError as exc:  # an isolated model environment without pyarrow
        log.warning("request logging is off: %s is not installed in this model's environment", exc.name)
        return app
    _writers.append(writer)
    writer.start()
    want_response = config.mode in ("all", "response")
    rate = config.sample

    def capture(request: Any) -> Capture:
        return Capture(request, rate, want_response)

    app.transforms.append(capture)
    app.settings["log_function"] = Hook(app.settings.get("log_function"), writer, config)
    return app


def close() -> None:
    """Write what is still queued (a worker calls this before it exits)."""
    while _writers:
        _writers.pop().stop()


class Capture:
    """A tornado output transform: picks the sampled predictions, names each (``X-Request-Id``
    in the answer) and keeps its response body for the log."""

    __slots__ = ("id", "chunks", "want_response")

    def __init__(self, request: Any, rate: float, want_response: bool):
        self.id = None
        self.chunks: list[bytes] = []
        self.want_response = want_response
        if request.method == "POST" and (rate >= 1.0 or random.random() < rate):
            given = request.headers.get(ID_HEADER, "")
            self.id = given if 0 < len(given) <= 128 else uuid.uuid4().hex
            request._merlin_log = self

    def transform_first_chunk(self, status_code: int, headers: Any, chunk: bytes, finishing: bool):
        if self.id is not None:
            headers[ID_HEADER] = self.id
            if self.want_response:
                self.chunks.append(chunk)
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        if self.id is not None and self.want_response and chunk:
            self.chunks.append(chunk)
        return chunk


class Hook:
    """Tornado's ``log_function``: the access log as before, then one record per sampled prediction."""

    def __init__(self, previous: Callable[[Any], None] | None, writer: "Writer", config: Config):
        self.previous, self.writer = previous, writer
        self.want_request = config.mode in ("all", "request")

    def __call__(self, handler: Any) -> None:
        if self.previous is not None:
            self.previous(handler)
        request = handler.request
        capture = getattr(request, "_merlin_log", None)
        protocol = getattr(handler, "protocol", "")
        if capture is None or not protocol:
            return
        body = b"".join(getattr(handler, "_chunks", ())) if self.want_request else None
        answer = b"".join(capture.chunks) if capture.want_response else None
        self.writer.add((capture.id, request._start_time, request.request_time(), handler.get_status(),
                         protocol, request.headers.get(VIA_HEADER), body, answer))


# -- the writer ---------------------------------------------------------------------------
class Writer:
    def __init__(self, config: Config):
        import pyarrow  # noqa: F401 - fail here (said once), not in the thread

        self.config = config
        self.id = f"{os.getpid()}-{int(time.time() * 1000):x}"
        self.seq = 0
        self.queue: deque = deque()
        self.queued_bytes = 0
        self.lock = threading.Lock()
        self.dropped = 0
        self._dropped_said = 0
        self._said_at = 0.0
        self._pruned_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="merlin-request-log", daemon=True)
        self._counter = _dropped_counter()
        os.makedirs(config.directory, mode=0o700, exist_ok=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, record: tuple) -> None:
        size = len(record[6] or b"") + len(record[7] or b"")
        with self.lock:
            if len(self.queue) >= MAX_QUEUED or self.queued_bytes + size > MAX_QUEUED_BYTES:
                self.dropped += 1
                return
            self.queue.append(record)
            self.queued_bytes += size

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            self._step()
        self._step()

    def _step(self) -> None:
        try:
            self.flush()
            if time.time() - self._pruned_at > PRUNE_INTERVAL:
                self._pruned_at = time.time()
                prune(self.config.directory, self.config.max_age, self.config.max_bytes)
        except Exception:  # noqa: BLE001 - a full disk must not stop the server; said in its log
            log.exception("the request log could not be written to %s", self.config.directory)
        self._say_dropped()

    def _say_dropped(self) -> None:
        new = self.dropped - self._dropped_said
        if new and self._counter is not None:
            self._counter.inc(new)
        if new and time.monotonic() - self._said_at > 10:
            log.warning("request log: %d predictions were not logged (the writer fell behind; "
                        "%d in all)", new, self.dropped)
            self._said_at = time.monotonic()
        self._dropped_said += new

    def flush(self) -> str | None:
        with self.lock:
            records, self.queue, self.queued_bytes = self.queue, deque(), 0
        if not records:
            return None
        self.seq += 1
        path = os.path.join(self.config.directory, f"b-{self.id}-{self.seq:08d}.parquet")
        _write(table(records, self.config.version), path)
        if self.seq % MERGE_AFTER == 0:
            self.merge(self.seq - MERGE_AFTER + 1, self.seq)
        return path

    def merge(self, first: int, last: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        directory = self.config.directory
        paths = [os.path.join(directory, f"b-{self.id}-{seq:08d}.parquet") for seq in range(first, last + 1)]
        tables = []
        for path in paths:
            try:
                tables.append(pq.read_table(path))
            except (FileNotFoundError, OSError):  # removed by retention meanwhile
                continue
        if tables:
            _write(pa.concat_tables(tables), os.path.join(directory, f"s-{self.id}-{first:08d}-{last:08d}.parquet"))
        for path in paths:
            _remove(path)


SCHEMA_FIELDS = ("id", "time", "latency_ms", "status", "version", "protocol", "route", "request", "response")


def table(records: deque, version: int) -> Any:
    import pyarrow as pa

    def text(body: bytes | None) -> str | None:
        if body is None or len(body) > MAX_BODY:
            return None
        return body.decode("utf-8", "replace")

    ids, times, latencies, statuses, protocols, routes, requests, responses = [], [], [], [], [], [], [], []
    for rid, started, seconds, status, protocol, via, body, answer in records:
        ids.append(rid)
        times.append(int(started * 1000))
        latencies.append(seconds * 1000)
        statuses.append(status)
        protocols.append(protocol)
        routes.append(via if via in ("model_endpoint", "mirror") else "direct")
        requests.append(text(body))
        responses.append(text(answer))
    return pa.table({
        "id": pa.array(ids, pa.string()),
        "time": pa.array(times, pa.timestamp("ms", tz="UTC")),
        "latency_ms": pa.array(latencies, pa.float64()),
        "status": pa.array(statuses, pa.int32()),
        "version": pa.array([version] * len(ids), pa.int32()),
        "protocol": pa.array(protocols, pa.string()),
        "route": pa.array(routes, pa.string()),
        "request": pa.array(requests, pa.string()),
        "response": pa.array(responses, pa.string()),
    })


def _write(data: Any, path: str) -> None:
    import pyarrow.parquet as pq

    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.tmp")
    pq.write_table(data, temporary, compression="zstd")
    os.chmod(temporary, 0o600)  # request bodies are the endpoint's users' data: owner only
    os.replace(temporary, path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_counter_made: list[Any] = []


def _dropped_counter() -> Any:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    if not _counter_made:
        from prometheus_client import Counter

        _counter_made.append(Counter("merlin_request_log_dropped", "Predictions the request log "
                                     "dropped because its writer fell behind"))
    return _counter_made[0]


# -- shared with the control plane (no heavy imports) -------------------------------------
def _listing(directory: str) -> list[tuple[str, os.stat_result]]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.endswith(".parquet") and not name.startswith("."):
            try:
                found.append((name, os.stat(os.path.join(directory, name))))
            except FileNotFoundError:
                continue
    return found


def readable_files(directory: str, since: float | None = None) -> list[str]:
    """The files holding each logged request once (flushes a segment covers are left out);
    with ``since`` (epoch seconds) only files that may hold requests from then on."""
    listing = _listing(directory)
    covered: dict[str, list[tuple[int, int]]] = {}
    for name, _ in listing:
        match = FILE.fullmatch(name)
        if match and match["sw"]:
            covered.setdefault(match["sw"], []).append((int(match["first"]), int(match["last"])))
    paths = []
    for name, stat in listing:
        match = FILE.fullmatch(name)
        if match is None:
            continue
        if match["bw"] and any(a <= int(match["seq"]) <= b for a, b in covered.get(match["bw"], ())):
            continue
        # A file is written after every request in it started: older than ``since``, it holds none.
        if since is not None and stat.st_mtime < since:
            continue
        paths.append(os.path.join(directory, name))
    return sorted(paths)


def prune(directory: str, max_age: float, max_bytes: int, now: float | None = None) -> int:
    """Remove files older than ``max_age`` seconds, then the oldest until at most ``max_bytes``
    remain; returns how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    try:
        for name in os.listdir(directory):  # temporary files of a writer killed mid-write
            if name.startswith(".") and name.endswith(".tmp"):
                path = os.path.join(directory, name)
                try:
                    if now - os.stat(path).st_mtime > 60:
                        _remove(path)
                except FileNotFoundError:
                    pass
    except FileNotFoundError:
        return 0
    listing = sorted(_listing(directory), key=lambda item: item[1].st_mtime)
    total = sum(stat.st_size for _, stat in listing)
    for name, stat in listing:
        if now - stat.st_mtime > max_age or total > max_bytes:
            _remove(os.path.join(directory, name))
            total -= stat.st_size
            removed += 1
    return removed
