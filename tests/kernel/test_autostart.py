"""Outside JupyterLab (a script, plain IPython) the SDK starts the standalone control plane."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys

from tests.conftest import _stop_model_servers

SCRIPT = "import merlin_jupyter as merlin\nmerlin.set_project('scripted')\nprint([p.name for p in merlin.list_projects()])\n"


def run(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=180)


def test_a_script_starts_a_control_plane_once_and_the_next_one_uses_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MERLIN_", "MLFLOW_", "JUPYTER_"))}
    env.update(HOME=str(tmp_path), JUPYTER_PLATFORM_DIRS="1", JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    try:
        first = run(env)
        assert first.returncode == 0, first.stderr[-2000:]
        assert "Started a Merlin control plane at http://127.0.0.1:" in first.stderr
        assert "['scripted']" in first.stdout
        # The next script finds the running one: no second start, same store.
        second = run(env)
        assert second.returncode == 0, second.stderr[-2000:]
        assert "Started" not in second.stderr and "['scripted']" in second.stdout
    finally:
        for path in glob.glob(str(tmp_path / "runtime" / "merlin-server-*.json")):
            with open(path) as handle:
                os.killpg(json.load(handle)["pid"], signal.SIGTERM)
        _stop_model_servers(tmp_path)
