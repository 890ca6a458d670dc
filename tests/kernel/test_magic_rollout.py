"""%merlin rollout through a real IPython shell: start, show its live widget again, pause, abort."""
from __future__ import annotations

import pytest

from merlin_jupyter import observe
from tests.conftest import sklearn_model


def test_rollout_magic_starts_shows_pauses_and_aborts(ip, merlin, monkeypatch):
    clf, sample = sklearn_model()
    ip.user_ns.update(clf=clf, X_test=sample)
    merlin("model rollout --type sklearn")
    for number in (1, 2):
        merlin("log clf --sample X_test[:3]")
        assert merlin(f"deploy v{number} --env local").status == "running"
    merlin("traffic v1=100")
    shown = []
    monkeypatch.setattr(observe, "_in_notebook", lambda: True)  # as in a notebook's kernel
    monkeypatch.setattr("merlin_jupyter.rollout_widget.RolloutWidget.show", lambda self: shown.append(self) or self)

    started = merlin("rollout v2 --steps 50,100 --bake 10m --max-error-rate 5% --max-p99 2s")
    assert started.status == "running" and started.weight == 50, started
    assert started.guard == {"error_rate": 0.05, "p99_ms": 2000.0}
    assert len(shown) == 1 and shown[-1].rollout.id == started.id  # its live widget
    assert merlin("rollout") is None and len(shown) == 2  # running: the widget again
    assert merlin("rollout --pause").status == "paused"
    assert merlin("rollout --resume").status == "running"
    aborted = merlin("rollout --abort")
    assert aborted.status == "aborted" and merlin("rollout").status == "aborted"  # done: no widget
    assert len(shown) == 2
    with pytest.raises(Exception, match="No rollout is running"):
        merlin("rollout --pause")
