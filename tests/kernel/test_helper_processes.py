"""The kernel's helper processes under a debugger, and after the kernel is gone.

JupyterLab's debugger runs debugpy in the kernel (``debugpy.listen``), which from then on
rewrites every Python command line the kernel starts to run under its pydevd launcher. These
tests run a stand-in kernel (a Python process that does what ipykernel's debugger does, then
what ``%load_ext merlin_jupyter`` and a deploy's check do) and look at the real processes.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.serving import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KERNEL = """
import json, sys, time
if sys.argv[1] == "debugged":
    import debugpy
    debugpy.listen(("127.0.0.1", 0))  # what ipykernel runs when the debugger is turned on
from merlin_jupyter import checks
checks.prepare()
print(json.dumps({"checker": checks._checker[0].pid}), flush=True)
print(json.dumps(checks._run(sys.argv[2], 60)), flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("helper-model") / "iris")
    models.save_column_model(path)
    return path


@pytest.mark.timeout(360)  # a kernel, a warm-up and a check: seconds quiet, minutes on a busy machine
@pytest.mark.parametrize("mode", ["debugged"])
def test_the_checker_runs_clean_under_a_debugger_and_dies_with_its_kernel(model, mode):
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, mode, model], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        checker = psutil.Process(json.loads(kernel.stdout.readline())["checker"])
        cmdline = " ".join(checker.cmdline())
        assert "pydevd" not in cmdline and "debugpy" not in cmdline, cmdline
        assert not any(k.startswith(("PYDEVD_", "DEBUGPY_")) for k in checker.environ())
        started = time.monotonic()
        assert json.loads(kernel.stdout.readline()) == {"problem": None}
        print(f"{mode}: checked in {time.monotonic() - started:.1f} s")

        kernel.send_signal(signal.SIGKILL)  # a kernel that is killed says goodbye to nobody
        kernel.wait(10)
        checker.wait(5)  # raises psutil.TimeoutExpired if the checker outlives its kernel
    finally:
        if kernel.poll() is None:
            kernel.kill()
