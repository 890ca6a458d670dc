"""One control plane per data directory: two reconcilers on one store would fight."""
from __future__ import annotations

import fcntl
import os

from .errors import Conflict


class StoreLock:
    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise Conflict(
                f"Another Merlin control plane ({holder}) already manages {os.path.dirname(self.path)}. "
                "Use that one (its URL is in the Jupyter runtime directory, merlin-server-*.json), "
                "stop it, or give this server another MerlinApp.data_dir."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
