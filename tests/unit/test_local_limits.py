"""What the local environment enforces of a resource request, refuses, or names as not enforced."""
from __future__ import annotations

import os

import pytest

from merlin_jupyter_server.deployers import local_cgroups, local_limits
from merlin_jupyter_server.entities import AutoscalingPolicy, Environment, ResourceRequest
from merlin_jupyter_server.errors import InvalidInput

LOCAL = Environment(1, "local", "localhost", True, "local", ResourceRequest())


@pytest.fixture
def no_cgroups(monkeypatch):
    monkeypatch.setenv("MERLIN_NO_CGROUPS", "1")
    local_cgroups.support.cache_clear()
    yield
    local_cgroups.support.cache_clear()


def test_without_cgroups_memory_and_cpu_are_named_as_not_enforced(no_cgroups):
    found = local_limits.admit(LOCAL, ResourceRequest(memory_request="256Mi"), AutoscalingPolicy())
    assert any(n.startswith("memory_request 256Mi and cpu_request 500m: not enforced here (turned off")
               for n in found["unenforced"]), found
    assert any("autoscaled by concurrency" in n for n in found["enforced"])


def test_a_gpu_request_without_a_gpu_is_refused_in_words(monkeypatch):
    monkeypatch.setattr(local_limits, "gpus", lambda: [])
    with pytest.raises(InvalidInput) as refused:
        local_limits.admit(LOCAL, ResourceRequest(gpu_request="1"), AutoscalingPolicy())
    assert refused.value.field == "resource_request.gpu_request"
    assert "this machine has none" in refused.value.message


def test_replicas_are_capped_by_the_environment_or_the_cores(monkeypatch):
    monkeypatch.setattr(local_limits, "usable_cores", lambda: 2)
    with pytest.raises(InvalidInput, match="at most 2"):
        local_limits.admit(LOCAL, ResourceRequest(max_replica=3), AutoscalingPolicy())
    roomy = Environment(1, "local", "localhost", True, "local", ResourceRequest(), config={"max_workers": 4})
    assert local_limits.admit(roomy, ResourceRequest(max_replica=3), AutoscalingPolicy())


def test_memory_utilization_is_named_and_scaled_by_concurrency():
    request, policy = ResourceRequest(min_replica=1, max_replica=2), AutoscalingPolicy("memory_utilization", 50)
    found = local_limits.admit(LOCAL, request, policy) if local_limits.usable_cores() >= 2 else {"unenforced": []}
    if local_limits.usable_cores() >= 2:
        assert any(n.startswith("autoscaling_policy memory_utilization") for n in found["unenforced"])
    args = local_limits.scaling_args(request, policy, {"scale_to_zero_after": 5})
    assert args[args.index("--scale-metric") + 1] == "concurrency"
    assert args[args.index("--idle-seconds") + 1] == "5"


def test_quantities():
    assert local_cgroups.memory_bytes("256Mi") == 256 * 2 ** 20
    assert local_cgroups.memory_bytes("1G") == 10 ** 9
    assert local_cgroups.millicores("500m") == 500 and local_cgroups.millicores("1.5") == 1500


def _cgroup_rmdir(path: str) -> None:
    """rmdir as cgroupfs does it: the group goes with its control files, unless it has
    processes or groups of its own."""
    entries = list(os.scandir(path)) if os.path.isdir(path) else []
    procs = os.path.join(path, "cgroup.procs")
    if any(e.is_dir() for e in entries) or (os.path.exists(procs) and open(procs).read().strip()):
        return
    for entry in entries:
        os.unlink(entry.path)
    os.rmdir(path)


@pytest.fixture
def v1_hierarchies(monkeypatch, tmp_path):
    """cgroup v1 memory and cpu hierarchies (as on a hybrid host) in a directory of our own."""
    for controller in ("memory", "cpu"):
        (tmp_path / controller).mkdir()
        (tmp_path / controller / "cgroup.procs").write_text("")
    monkeypatch.delenv("MERLIN_NO_CGROUPS", raising=False)
    monkeypatch.setattr(local_cgroups, "ROOT", str(tmp_path))
    monkeypatch.setattr(local_cgroups, "_own_paths", lambda: {"memory": "/", "cpu": "/"})
    monkeypatch.setattr(local_cgroups, "_rmdir", _cgroup_rmdir)
    local_cgroups.support.cache_clear()
    yield tmp_path
    local_cgroups.support.cache_clear()


def test_probing_for_cgroups_leaves_no_group_behind(v1_hierarchies):
    found = local_cgroups.support()
    assert found.version == 1, found.reason
    assert not (v1_hierarchies / "memory" / "merlin").exists()
    assert not (v1_hierarchies / "cpu" / "merlin").exists()


def test_the_merlin_group_goes_with_the_last_endpoint_group(v1_hierarchies):
    found = local_cgroups.support()
    base = v1_hierarchies / "cpu" / "merlin"
    first, second = base / "a-1-r1", base / "a-2-r1"
    first.mkdir(parents=True)
    second.mkdir()
    local_cgroups.remove([str(first)])
    assert base.is_dir(), "removed while another endpoint still has its group"
    local_cgroups.remove([str(second)])
    assert not base.exists()
    # The next endpoint makes it again.
    made = local_cgroups.create("a-3-r1", "256Mi", "500m")
    assert made == [f"{found.memory}/a-3-r1", f"{found.cpu}/a-3-r1"]


def test_empty_groups_left_by_ended_servers_are_swept(v1_hierarchies):
    found = local_cgroups.support()
    made = local_cgroups.create("gone-1-r1", "256Mi", "500m")  # its server ended with no one looking
    running = local_cgroups.create("alive-1-r1", "256Mi", "500m")
    for path in made + running:
        (v1_hierarchies / path / "cgroup.procs").write_text("" if path in made else "4242\n")
    assert local_cgroups.sweep(older_than=60) == []  # just made: a deploy may be filling it
    assert sorted(local_cgroups.sweep(older_than=0)) == sorted(made)
    assert local_cgroups.existing("alive-1-r1") == running and found.available
