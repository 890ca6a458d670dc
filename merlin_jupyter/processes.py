"""Helper processes a kernel starts (the pre-deploy checker, ``jupyter merlin``): started clean,
and, for those that only serve this kernel, ended with it.

A kernel under JupyterLab's debugger runs debugpy, which rewrites every Python command line the
kernel starts (``subprocess``, ``os.exec*``, ``posix_spawn``, ``fork``) to run under its
``pydevd`` launcher, connected back to the debugger. Such a child then waits for the debugger
client to attach to it as a new debug session before it runs a line of its own code; JupyterLab
never does, so the child waits forever: a deploy's check timed out after 120 s, and the waiting
processes outlived their kernels (they read nothing, so the kernel's pipe closing went unseen).

So helpers are started through ``/bin/sh`` (debugpy leaves commands that are not Python alone;
the shell then execs the interpreter, keeping its pid), without the debugger's environment
variables, and a helper watches its parent and exits when the kernel is gone.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

# Set by debugpy and pydevd for the processes they run; a helper must not inherit them.
DEBUGGER_ENV_PREFIXES = ("PYDEVD_", "DEBUGPY_")
PARENT_POLL = 0.5  # seconds between looks at the parent, in a helper


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) without the debugger's variables."""
    env = dict(os.environ if env is None else env)
    return {k: v for k, v in env.items() if not k.startswith(DEBUGGER_ENV_PREFIXES)}


def command(argv: list[str]) -> list[str]:
    """``argv`` run by a shell that execs it: the same process, out of debugpy's reach."""
    if os.name != "posix":
        return list(argv)  # debugpy's rewriting on Windows is not handled here
    return ["/bin/sh", "-c", 'exec "$@"', "merlin-helper", *argv]


def start(argv: list[str], env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """``subprocess.Popen(argv)`` as if no debugger were attached to this process."""
    return subprocess.Popen(command(argv), env=clean_env(env), **popen)


def python(*args: str) -> list[str]:
    """A command line for this kernel's interpreter."""
    return [sys.executable, *args]


def exit_with_parent() -> None:
    """In a helper: exit at once when the process that started it is gone.

    A pipe from the kernel only tells when the helper reads it; a helper busy warming up or
    checking a model would live on. The parent's death shows as a new parent pid (init or a
    subreaper), looked at from a daemon thread."""
    parent = os.getppid()
    if parent == 1:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(0)

    threading.Thread(target=watch, name="merlin-parent-watch", daemon=True).start()
