"""Tab completion of the ``%merlin`` line: subcommands, then project, model and version names.

Names come from the control plane with a short timeout; if it cannot answer, completion offers
nothing rather than slowing the notebook down or raising.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .client import MerlinError

VERSION_ARGS = {"deploy", "status", "logs", "requests", "undeploy"}
TIMEOUT = 2.0


def _names(kind: str) -> list[str]:
    from . import fluent

    client = fluent._client()
    if kind == "projects":
        return [p["name"] for p in client.request("GET", "/projects", timeout=TIMEOUT)]
    if kind == "environments":
        return [e["name"] for e in client.request("GET", "/environments", timeout=TIMEOUT)]
    if kind == "models":
        return [m["name"] for m in client.request("GET", f"/projects/{fluent.active_project().id}/models", timeout=TIMEOUT)]
    model = fluent.active_model()
    return [f"v{v['id']}" for v in client.request("GET", f"/models/{model.id}/versions", limit=100, timeout=TIMEOUT)]


def candidates(line: str, lookup: Callable[[str], list[str]] = _names) -> list[str]:
    """What may come next on ``line`` (the text up to the cursor, ``%merlin`` included)."""
    from .magics import SUBCOMMANDS

    words = line.split()
    if words and words[0].lstrip("%") == "merlin":
        words = words[1:]
    typing_new_word = line.endswith(" ")
    done = words if typing_new_word else words[:-1]  # words already complete
    if not done:
        return [*SUBCOMMANDS, "--help"]
    sub, previous = done[0], done[-1]
    if previous == "--env":
        return lookup("environments")
    if previous == "--mirror" or (sub == "predict" and previous == "--version"):
        return lookup("versions")
    if previous == "--log-requests":
        return ["all", "request", "response"]
    if len(done) > 1 and previous.startswith("-") and previous not in ("--no-wait", "--dry-run", "--no-check",
                                                                       "--follow", "-f"):
        return []  # the value of some other option
    if sub == "project" and len(done) == 1:
        return lookup("projects")
    if sub == "model" and len(done) == 1:
        return lookup("models")
    if sub in VERSION_ARGS and len(done) == 1:
        return lookup("versions")
    if sub == "traffic":
        return [f"{v}=" for v in lookup("versions")]
    if sub == "ls" and len(done) == 1:
        return ["projects", "models", "versions", "environments"]
    return []


def matcher(context: Any) -> dict[str, Any]:
    """An IPython (Matcher API v2) completer for lines that start with ``%merlin``.

    It names the fragment it replaces itself, so names with '-' complete whole, and it hides
    the Python completions that make no sense on a magic's line.
    """
    line = context.text_until_cursor
    if not line.lstrip().startswith(("%merlin ", "merlin ")):
        return {"completions": [], "suppress": False}
    fragment = "" if line.endswith(" ") else line.split()[-1]
    try:
        names = [n for n in candidates(line.lstrip()) if n.startswith(fragment)]
    except (MerlinError, OSError, ValueError, KeyError):
        names = []
    from IPython.core.completer import SimpleCompletion

    return {"completions": [SimpleCompletion(n, type="merlin") for n in names],
            "matched_fragment": fragment, "suppress": bool(names)}


def register(shell: Any) -> None:
    """Complete ``%merlin ...`` lines in this shell (once, however often the extension loads)."""
    from IPython.core.completer import context_matcher

    completer = shell.Completer
    if not any(getattr(m, "__name__", "") == "merlin_matcher" for m in completer.custom_matchers):
        wrapped = context_matcher()(matcher)
        wrapped.__name__ = "merlin_matcher"
        completer.custom_matchers.append(wrapped)
