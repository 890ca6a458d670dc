"""The control plane's files are its owner's alone (the process umask is left to Jupyter)."""
from __future__ import annotations

import os


def private_dir(path: str) -> None:
    """Create ``path`` (0700), or take an existing one away from group and others."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: str) -> None:
    """Create ``path`` empty (0600) unless it exists, and make it owner-only either way."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
