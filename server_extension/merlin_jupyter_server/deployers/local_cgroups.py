"""One cgroup per local endpoint, when this control plane may create cgroups (as the kubelet does).

cgroup v2 is used when its memory and cpu controllers reach this process's cgroup and a sibling
group can be made beside it (root, or a subtree delegated to this user, as systemd does for
user sessions); otherwise cgroup v1's memory and cpu hierarchies when they are writable (a
hybrid host run as root). ``memory_request`` becomes the memory limit (swap off), so an endpoint
using more is killed by the kernel and the control plane reports ``OOMKilled``; ``cpu_request``
becomes the CPU weight (shares), which divides the cores under contention as Kubernetes does with
requests. Without either, ``support()`` says why, and the deploy names the settings as not
enforced.

The endpoint groups live in a ``merlin`` group made when the first one is needed and removed
with the last one: probing leaves nothing behind (the probe makes it only to see that it may,
and removes it again if it made it).
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache

ROOT = "/sys/fs/cgroup"
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T|k)?$")
_UNITS = {None: 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
          "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def memory_bytes(quantity: str) -> int:
    match = _MEMORY.match(str(quantity).strip())
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def millicores(quantity: str) -> int:
    text = str(quantity).strip()
    return int(float(text[:-1])) if text.endswith("m") else int(float(text) * 1000)


@dataclass
class Support:
    version: int = 0  # 2, 1 or 0 (none)
    reason: str = ""
    memory: str = ""  # the parent directory endpoint groups are made in
    cpu: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.version > 0

    def describe(self) -> str:
        return f"cgroup v{self.version}"


def _own_paths() -> dict[str, str]:
    """This process's cgroup per controller ('' is the v2 unified one)."""
    paths: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as handle:
            for line in handle:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                for name in controllers.split(","):
                    paths[name] = path
    except OSError:
        pass
    return paths


def _unified_mount() -> str:
    for candidate in (ROOT, os.path.join(ROOT, "unified")):
        if os.path.exists(os.path.join(candidate, "cgroup.controllers")):
            return candidate
    return ""


_LOCK = threading.Lock()  # making a group and removing the last one must not interleave here


def _try_dir(parent: str, name: str) -> str | None:
    path = os.path.join(parent, name)
    for _ in range(3):  # another control plane may remove an empty ``merlin`` meanwhile
        try:
            os.makedirs(path, exist_ok=True)
            return path
        except FileNotFoundError:
            continue
        except OSError:
            return None
    return None


def _probe_dir(parent: str, name: str) -> str | None:
    """``parent/name`` if this process may make it; made only for the look, then removed."""
    path = os.path.join(parent, name)
    if os.path.isdir(path):
        return path if os.access(path, os.W_OK) else None
    try:
        os.mkdir(path)
    except OSError:
        return None
    _rmdir(path)
    return path


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)  # only an empty group can go (and a cgroup is removed only so)
    except OSError:
        pass


def _enable_controllers(base: str) -> str:
    """Hand the memory and cpu controllers to the endpoint groups under ``base`` (v2); '' or why not."""
    try:
        with open(os.path.join(base, "cgroup.subtree_control"), "w", encoding="utf-8") as handle:
            handle.write("+memory +cpu")
        return ""
    except OSError as exc:
        return exc.strerror or str(exc)


def _v2() -> Support:
    mount = _unified_mount()
    if not mount:
        return Support(reason="no cgroup v2 hierarchy is mounted")
    own = _own_paths().get("", "/")
    here = os.path.join(mount, own.lstrip("/"))
    try:
        with open(os.path.join(here, "cgroup.controllers"), encoding="utf-8") as handle:
            controllers = handle.read().split()
    except OSError:
        return Support(reason=f"cannot read this process's cgroup v2 ({here})")
    missing = [c for c in ("memory", "cpu") if c not in controllers]
    if missing:
        return Support(reason=f"cgroup v2 here has no {' or '.join(missing)} controller "
                              f"({mount} offers: {' '.join(controllers) or 'none'})")
    # A v2 group with processes cannot hand controllers to children: endpoints go beside it.
    parent = os.path.dirname(here.rstrip("/")) if own != "/" else here
    base = os.path.join(parent, "merlin")
    made = not os.path.isdir(base)
    if _try_dir(parent, "merlin") is None:
        return Support(reason=f"this user may not create cgroups in {parent} (not root, and no "
                              "delegated subtree)")
    failed = _enable_controllers(base)
    if made:
        _rmdir(base)  # made again, with its controllers, by the first endpoint that needs it
    if failed:
        return Support(reason=f"cannot enable the memory and cpu controllers in {base} ({failed})")
    return Support(2, memory=base, cpu=base)


def _v1() -> Support:
    paths = _own_paths()
    found = {}
    for controller in ("memory", "cpu"):
        names = ("memory",) if controller == "memory" else ("cpu", "cpu,cpuacct")
        mount = next((os.path.join(ROOT, d) for d in names
                      if os.path.exists(os.path.join(ROOT, d, "cgroup.procs"))), "")
        if not mount or controller not in paths:
            return Support(reason=f"no cgroup v1 {controller} hierarchy")
        base = _probe_dir(os.path.join(mount, paths[controller].lstrip("/")), "merlin")
        if base is None:
            return Support(reason=f"this user may not create cgroups in the v1 {controller} hierarchy "
                                  "(not root)")
        found[controller] = base
    return Support(1, memory=found["memory"], cpu=found["cpu"])


@lru_cache(maxsize=None)
def support() -> Support:
    """Whether (and how) endpoint cgroups can be made here; probed once."""
    if os.environ.get("MERLIN_NO_CGROUPS"):
        return Support(reason="turned off (MERLIN_NO_CGROUPS)")
    v2 = _v2()
    if v2.available:
        return v2
    v1 = _v1()
    if v1.available:
        v1.notes.append(f"cgroup v2 not usable: {v2.reason}")
        return v1
    return Support(reason=f"{v2.reason}; {v1.reason}")


def _write(path: str, name: str, value: str) -> bool:
    try:
        with open(os.path.join(path, name), "w", encoding="utf-8") as handle:
            handle.write(value)
        return True
    except OSError:
        return False


def create(name: str, memory: str, cpu: str) -> list[str]:
    """Make the endpoint's group(s) with its limits; the paths, or [] when unavailable."""
    found = support()
    if not found.available:
        return []
    limit, weight = memory_bytes(memory), millicores(cpu)
    with _LOCK:
        if found.version == 2:
            if not os.path.isdir(found.memory):
                if _try_dir(os.path.dirname(found.memory), "merlin") is None or _enable_controllers(found.memory):
                    return []
            path = _try_dir(found.memory, name)
            if path is None:
                return []
            _write(path, "memory.max", str(limit))
            _write(path, "memory.swap.max", "0")
            _write(path, "cpu.weight", str(max(1, min(10000, 1 + (weight * 1024 // 1000 - 2) * 9999 // 262142))))
            return [path]
        paths = [p for p in (_try_dir(found.memory, name), _try_dir(found.cpu, name)) if p]
    if len(paths) < 2:
        remove(paths)
        return []
    memory_dir, cpu_dir = paths
    _write(memory_dir, "memory.limit_in_bytes", str(limit))
    _write(memory_dir, "memory.memsw.limit_in_bytes", str(limit))  # no swapping past the limit
    _write(cpu_dir, "cpu.shares", str(max(2, weight * 1024 // 1000)))
    return paths


def existing(name: str) -> list[str]:
    """The groups ``create`` made for ``name`` (found again after a control-plane restart)."""
    found = support()
    if not found.available:
        return []
    parents = [found.memory] if found.version == 2 else [found.memory, found.cpu]
    paths = [os.path.join(parent, name) for parent in parents]
    return paths if all(os.path.isdir(p) for p in paths) else []


def add(paths: list[str], pid: int) -> bool:
    return all(_write(path, "cgroup.procs", str(pid)) for path in paths) if paths else False


def oom_kills(paths: list[str]) -> int:
    """How many processes of the group the kernel killed for using more than its memory limit."""
    for path in paths:
        for name in ("memory.events", "memory.oom_control"):
            try:
                with open(os.path.join(path, name), encoding="utf-8") as handle:
                    for line in handle:
                        key, _, value = line.partition(" ")
                        if key == "oom_kill":
                            return int(value)
            except (OSError, ValueError):
                continue
    return 0


def remove(paths: list[str]) -> None:
    """Remove an endpoint's groups, and the ``merlin`` group with the last of them."""
    with _LOCK:
        for path in paths:
            _rmdir(path)
            if os.path.basename(os.path.dirname(path)) == "merlin":
                _rmdir(os.path.dirname(path))  # fails, as it should, while other endpoints have groups


def sweep(older_than: float = 60.0) -> list[str]:
    """Remove endpoint groups that no process is in any more and that were made more than
    ``older_than`` seconds ago (a group is filled the moment it is made): those of servers that
    ended while no control plane looked after them, or were killed with it."""
    found = support()
    if not found.available:
        return []
    removed = []
    now = time.time()
    for parent in dict.fromkeys((found.memory, found.cpu)):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            path = os.path.join(parent, name)
            try:
                if not os.path.isdir(path) or now - os.stat(path).st_mtime < older_than:
                    continue
                with open(os.path.join(path, "cgroup.procs"), encoding="ascii") as handle:
                    if handle.read().strip():
                        continue
            except OSError:
                continue
            with _LOCK:
                _rmdir(path)
            if not os.path.exists(path):
                removed.append(path)
        if removed:
            with _LOCK:
                _rmdir(parent)  # the last one went
    return removed


def cpu_quota_cores() -> float | None:
    """The CPU limit of this process's own cgroup in cores (a pod's limit), if any."""
    paths = _own_paths()
    mount = _unified_mount()
    if mount and "" in paths:
        try:
            with open(os.path.join(mount, paths[""].lstrip("/"), "cpu.max"), encoding="utf-8") as handle:
                quota, period = handle.read().split()
            if quota != "max":
                return int(quota) / int(period)
        except (OSError, ValueError):
            pass
    for directory in ("cpu", "cpu,cpuacct"):
        base = os.path.join(ROOT, directory, paths.get("cpu", "/").lstrip("/"))
        try:
            with open(os.path.join(base, "cpu.cfs_quota_us"), encoding="utf-8") as q, \
                    open(os.path.join(base, "cpu.cfs_period_us"), encoding="utf-8") as p:
                quota, period = int(q.read()), int(p.read())
            if quota > 0:
                return quota / period
        except (OSError, ValueError):
            continue
    return None
