"""Waiting for a condition, never for a fixed time: a loaded CI machine makes every fixed sleep
too short some day, and a generous deadline costs nothing when the condition holds early."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """``check()``'s first truthy value; AssertionError saying ``what`` after ``timeout`` s.

    Read a changing value once per look inside ``check`` (two reads can disagree)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(interval)
