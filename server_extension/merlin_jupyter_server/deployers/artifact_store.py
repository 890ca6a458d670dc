"""Getting a model's files somewhere a cluster can read them.

A cluster cannot read this machine's disk. URIs that already point to shared storage (s3://,
gs://, pvc://, http(s)://, ...) are used as they are; MLflow-only URIs are refused in words; a
local model directory is copied once to the environment's S3-compatible ``artifact_store`` and
that copy's URI is used instead.

"Once": the copy's key contains a digest of the directory's file names, sizes and mtimes, and
a marker object is written last; a complete copy is never uploaded again, an interrupted one is.
Blocking (boto3): callers run these functions in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ..errors import DeploymentError

# URIs only an MLflow server can resolve. Every other scheme is passed to KServe as it is: it
# reads s3, gs, pvc, http(s), hdfs, oci, hf, and custom ones through ClusterStorageContainers.
MLFLOW_ONLY_SCHEMES = ("mlflow-artifacts", "runs", "models", "dbfs")
MARKER = ".merlin-upload-complete"


def local_path(uri: str) -> str | None:
    """The directory a ``file://`` or absolute-path URI names; None for anything else."""
    if uri.startswith("file://"):
        return urlparse(uri).path
    if uri.startswith("/"):
        return uri
    return None


def needs_copy(uri: str, environment: str, store: dict[str, Any]) -> bool:
    """Whether ``uri`` must be copied first; raises DeploymentError when it cannot be used."""
    if local_path(uri) is None:
        scheme = urlparse(uri).scheme
        if scheme not in MLFLOW_ONLY_SCHEMES:
            return False
        raise DeploymentError(
            f"The model at {uri} cannot be read by a cluster ({scheme}: URIs are only meaningful "
            "to the MLflow server). Log the model to a tracking server whose artifact root is "
            "s3://, gs:// or http(s)://, or deploy it to the 'local' environment."
        )
    if not (store or {}).get("uri"):
        raise DeploymentError(
            f"The model is on this machine's disk ({local_path(uri)}), which the cluster of "
            f"environment {environment!r} cannot read. Configure an artifact store for it: add "
            '"artifact_store": {"uri": "s3://<bucket>/<prefix>", "endpoint_url": "<S3 endpoint, '
            'e.g. http://minio:9000>", "secret": "<Secret with AWS_ACCESS_KEY_ID/'
            'AWS_SECRET_ACCESS_KEY in the project namespace>"} to the environment in '
            "MerlinApp.environments, or log models to a tracking server with remote artifacts."
        )
    if urlparse(str(store["uri"])).scheme != "s3":
        raise DeploymentError(
            f"artifact_store.uri of environment {environment!r} is {store['uri']!r}; only "
            "S3-compatible stores (s3://bucket/prefix) can receive copies."
        )
    return True


def _files(root: str) -> list[tuple[str, str, int]]:
    """(relative key, absolute path, size) of every file under root, sorted."""
    out = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            out.append(
                (os.path.relpath(path, root).replace(os.sep, "/"), path, os.path.getsize(path))
            )
    return sorted(out)


def digest(root: str) -> str:
    if not os.path.isdir(root):
        raise DeploymentError(
            f"The model directory {root} does not exist on this machine, so "
            "there is nothing to copy to the artifact store."
        )
    h = hashlib.sha256()
    for key, path, size in _files(root):
        h.update(f"{key}\0{size}\0{os.stat(path).st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def destination(store: dict[str, Any], project: str, model: str, version: int, root: str) -> str:
    """Where the copy of ``root`` lives: ``<store>/<project>/<model>/<version>/<digest>``."""
    base = str(store["uri"]).rstrip("/")
    return f"{base}/{project}/{model}/{version}/{digest(root)}"


@dataclass
class Progress:
    """An upload's progress, read by ``status()`` from the event loop while a thread writes it."""

    destination: str
    total: int = 0
    done: int = 0
    finished: bool = False
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, amount: int) -> None:
        with self.lock:
            self.done += amount

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.finished:
            return f"model copied to {self.destination}"
        return (
            f"copying the model to {self.destination}: "
            f"{self.done / 2**20:.1f} of {self.total / 2**20:.1f} MiB"
        )


def s3_client(store: dict[str, Any]) -> Any:
    import boto3  # imported when a copy is needed: boto3 takes ~0.3 s to import

    session = boto3.session.Session(profile_name=store.get("profile") or None)
    return session.client(
        "s3",
        endpoint_url=store.get("endpoint_url") or None,
        region_name=store.get("region") or None,
    )


def upload(root: str, store: dict[str, Any], progress: Progress) -> str:
    """Copy ``root`` to ``progress.destination`` unless a complete copy is there; returns it."""
    parsed = urlparse(progress.destination)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    files = _files(root)
    progress.total = sum(size for _, _, size in files)
    try:
        s3 = s3_client(store)
        if _exists(s3, bucket, f"{prefix}/{MARKER}"):
            progress.done = progress.total
        else:
            for key, path, _ in files:
                s3.upload_file(path, bucket, f"{prefix}/{key}", Callback=progress.add)
            s3.put_object(Bucket=bucket, Key=f"{prefix}/{MARKER}", Body=b"")
    except Exception as exc:  # noqa: BLE001 - boto3 raises many types; all mean "copy failed"
        progress.error = (
            f"Copying the model to {progress.destination} failed: {exc}. Check "
            "artifact_store (uri, endpoint_url) and this server's S3 credentials "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or 'profile')."
        )
        raise DeploymentError(progress.error) from exc
    progress.finished = True
    return progress.destination


def _exists(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
