"""The zoo shares the session's control plane and the kernel tests' IPython shell."""
from __future__ import annotations

import pytest

from tests.conftest import unique

from .cells import PRELUDE

RESULTS: list[dict] = []  # one row per model, printed as a table when the session ends
COLUMNS = ("model", "log", "deploy s", "V1 rows", "V1 records", "V2", "%predict", "equal")


def run_cell(shell, code: str) -> None:
    result = shell.run_cell(code)
    if not result.success:
        raise AssertionError(f"the cell failed: {result.error_in_exec or result.error_before_exec}")


@pytest.fixture(scope="session")
def ip():
    """The one IPython shell of the session (tests/kernel's too), with ``%load_ext merlin_jupyter``."""
    from IPython.testing import globalipapp

    shell = globalipapp.get_ipython()  # the module's name is the shell once it started
    if "merlin" not in shell.magics_manager.magics["line"]:
        shell.run_line_magic("load_ext", "merlin_jupyter")
    return shell


@pytest.fixture(scope="module")
def zoo(ip, control_plane):
    """``%merlin`` connected to one project for every model of the module, with PRELUDE run."""
    def magic(line: str):
        return ip.run_line_magic("merlin", line)

    magic(f"connect {control_plane.url} --token {control_plane.token}")
    magic(f"project {unique('zoo')}")
    run_cell(ip, PRELUDE)
    return magic


def table(rows: list[dict]) -> str:
    cells = [[str(row.get(c, "")) for c in COLUMNS] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter) -> None:
    if RESULTS:
        terminalreporter.write_sep("-", "model zoo")
        terminalreporter.write_line(table(RESULTS))
