"""A real IPython shell with ``%load_ext merlin_jupyter``, connected to the session's control plane."""
from __future__ import annotations

import pytest
from IPython.testing import globalipapp

from tests.conftest import unique


@pytest.fixture(scope="session")
def ip():
    shell = globalipapp.get_ipython()  # the module's name, not an imported one: it becomes the shell
    if "merlin" not in shell.magics_manager.magics["line"]:  # tests/zoo shares this shell
        shell.run_line_magic("load_ext", "merlin_jupyter")  # also starts warming the pre-deploy checker
    return shell


@pytest.fixture
def merlin(ip, control_plane):
    """``merlin("deploy v1")`` runs ``%merlin deploy v1`` in a fresh project of the control plane."""
    def run(line: str):
        return ip.run_line_magic("merlin", line)

    run(f"connect {control_plane.url} --token {control_plane.token}")
    run(f"project {unique('magic')}")
    return run
