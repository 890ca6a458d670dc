"""Test-only: die with SIGKILL at a named step, to prove a restart finishes any half-done step.

``MERLIN_TEST_CRASH_AT=deploy:after-spawn`` (say) in the control plane's environment kills it
the first time the reconciler reaches that step. Unset (always, outside tests) it does nothing.
"""
from __future__ import annotations

import os
import signal

STEPS = ("deploy:before-spawn", "deploy:after-spawn", "deploy:after-record",
         "undeploy:before-stop", "undeploy:after-stop", "undeploy:after-record")
_AT = os.environ.get("MERLIN_TEST_CRASH_AT", "")


def reached(step: str) -> None:
    assert step in STEPS, step
    if _AT == step:
        os.kill(os.getpid(), signal.SIGKILL)
