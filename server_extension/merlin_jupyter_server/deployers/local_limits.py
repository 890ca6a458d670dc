"""What the ``local`` environment can honour of a resource request, and what it cannot.

Locally, ``min_replica``/``max_replica`` are the model server's worker processes (autoscaled
between them), capped by the machine's cores (the ones this process may use: its CPU affinity
and its cgroup's CPU quota) or the environment's ``max_workers``. ``memory_request`` and
``cpu_request`` are enforced with a cgroup per endpoint when this control plane may create one
(local_cgroups): memory as the limit (the kernel kills what uses more), CPU as a weight under
contention, as the kubelet does with requests. What cannot be enforced is named, never silently
dropped; a GPU request on a machine without a GPU is refused before anything is deployed.
"""
from __future__ import annotations

import glob
import math
import os
from typing import Any

from ..entities import AutoscalingPolicy, Environment, ResourceRequest
from ..errors import InvalidInput
from . import local_cgroups


def usable_cores() -> int:
    """Cores this process may use: its affinity, bounded by a cgroup CPU quota (a pod's limit)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = local_cgroups.cpu_quota_cores()
    if quota:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def gpus() -> list[str]:
    """GPU devices this machine exposes (NVIDIA or a DRM render node of another vendor)."""
    return sorted(glob.glob("/dev/nvidia[0-9]*")) + sorted(glob.glob("/dev/dri/renderD*"))


def worker_cap(environment: Environment) -> tuple[int, str]:
    configured = (environment.config or {}).get("max_workers")
    if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
        return configured, f"the environment's max_workers ({configured})"
    cores = usable_cores()
    return cores, f"the {cores} core{'s' if cores != 1 else ''} this server may use"


def admit(environment: Environment, request: ResourceRequest, policy: AutoscalingPolicy) -> dict[str, Any]:
    """Refuse (InvalidInput) what this machine cannot run; return what it will not enforce.

    The answer becomes the endpoint's ``serving`` details: ``enforced`` and ``unenforced``
    list settings in words."""
    gpu = str(request.gpu_request or "0")
    if gpu not in ("", "0"):
        if not gpus():
            raise InvalidInput(
                f"resource_request.gpu_request asks for {gpu} GPU(s), but this machine has none "
                "(no /dev/nvidia* or /dev/dri/renderD* device): deploy without gpu_request, or to "
                "a Kubernetes environment with GPU nodes.",
                field="resource_request.gpu_request")
    cap, why = worker_cap(environment)
    if request.workers and request.workers > cap:
        raise InvalidInput(
            f"resource_request.workers is {request.workers}, more than {why} allow(s) locally "
            f"(at most {cap}): ask for {cap} or fewer.", field="resource_request.workers")
    if not request.workers and request.max_replica > cap:
        raise InvalidInput(
            f"resource_request.max_replica is {request.max_replica}: locally replicas are worker "
            f"processes, and {why} allow(s) at most {cap}. Ask for max_replica {cap} or fewer "
            "(or deploy to a Kubernetes environment).", field="resource_request.max_replica")
    enforced, unenforced = [], []
    if request.workers:
        enforced.append(f"workers: {request.workers} worker processes")
        unenforced.append(f"min_replica/max_replica ({request.min_replica}-{request.max_replica}): "
                          f"workers is set, so {request.workers} worker processes run, not autoscaled")
    else:
        enforced.append(f"min_replica/max_replica: {request.min_replica}-{request.max_replica} worker "
                        f"processes, autoscaled by {policy.metrics_type} (target {policy.target_value:g})"
                        + ("; scaled to zero when idle" if request.min_replica == 0 else ""))
        if policy.metrics_type == "memory_utilization" and request.min_replica != request.max_replica:
            unenforced.append("autoscaling_policy memory_utilization: not measured locally; workers "
                              "are scaled by concurrency (target 1) instead")
    support = local_cgroups.support()
    if support.available:
        enforced.append(f"memory_request {request.memory_request}: the endpoint's memory limit "
                        f"({support.describe()}); over it the endpoint fails as OOMKilled")
        enforced.append(f"cpu_request {request.cpu_request}: the endpoint's CPU weight under "
                        f"contention ({support.describe()})")
    else:
        unenforced.append(f"memory_request {request.memory_request} and cpu_request "
                          f"{request.cpu_request}: not enforced here ({support.reason})")
    if gpu not in ("", "0"):
        unenforced.append(f"gpu_request {gpu}: not assigned locally; the model server sees every "
                          "GPU of this machine")
    return {"enforced": enforced, "unenforced": unenforced}


def scaling_args(request: ResourceRequest, policy: AutoscalingPolicy, options: dict[str, Any]) -> list[str]:
    """The model server's worker arguments for ``request`` and ``policy``."""
    if request.workers:
        return ["--workers", str(request.workers)]
    metric = policy.metrics_type if policy.metrics_type != "memory_utilization" else "concurrency"
    target = policy.target_value if policy.metrics_type != "memory_utilization" else 1.0
    return ["--min-workers", str(request.min_replica), "--max-workers", str(max(1, request.max_replica)),
            "--scale-metric", metric, "--scale-target", f"{target:g}",
            "--scale-window", f"{float(options.get('autoscale_window', 60.0)):g}",
            "--idle-seconds", f"{float(options.get('scale_to_zero_after', 60.0)):g}"]
