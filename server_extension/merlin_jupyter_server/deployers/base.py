"""The deployer contract: how a version endpoint or a model endpoint becomes real somewhere.

One implementation per environment kind (``local`` processes, ``kubernetes`` KServe + Istio),
registered by name in ``deployers/__init__.py``. The reconciler is the only caller. Every method
is a coroutine and must never block the event loop (run blocking work in a thread).

Results are dataclasses. A deployer keeps no state of its own that matters across restarts:
whatever it needs to find a deployment again goes into ``DeploymentStatus.handle`` (a small
JSON-able dict), which the control plane stores with the endpoint and passes back.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Literal

from ..entities import AutoscalingPolicy, Environment, ResourceRequest

State = Literal["pending", "ready", "failed", "gone", "crashed"]


@dataclass
class DeploymentSpec:
    """Everything needed to run one version endpoint."""

    endpoint_id: str
    project: str
    model: str
    version: int  # the per-model version counter
    revision: int  # bumps on every redeploy of the same endpoint
    model_type: str
    artifact_uri: str  # the MLflow run's artifact root
    environment: Environment
    resource_request: ResourceRequest
    env_vars: list[dict[str, str]] = field(default_factory=list)
    deployment_mode: str = "serverless"
    autoscaling_policy: AutoscalingPolicy = field(default_factory=AutoscalingPolicy)
    protocol: str = "HTTP_JSON"
    tracking_uri: str = ""  # so a server can resolve runs:/ or mlflow-artifacts:/ URIs
    # Where the model itself lives: ``<artifact_uri>/model`` for runs logged by MLflow 1.x/2.x
    # clients, the logged model's own location for MLflow 3 (resolved by the control plane).
    model_location: str = ""
    # Merlin's logger settings (services/logger_config); None: requests are not logged.
    logger: dict[str, Any] | None = None

    @property
    def model_uri(self) -> str:
        return self.model_location or self.artifact_uri.rstrip("/") + "/model"

    @property
    def model_name(self) -> str:
        """The name the model server serves under: ``{model}-{version}``."""
        return f"{self.model}-{self.version}"

    @property
    def revision_name(self) -> str:
        return f"{self.model}-{self.version}-r{self.revision}"


@dataclass
class DeploymentStatus:
    """What a deployer knows about one deployment right now.

    ``state``: ``pending`` (starting), ``ready`` (answers predictions at ``url``),
    ``failed`` (``message`` says why in words, ``logs`` holds the last lines that explain it),
    ``gone`` (nothing is deployed for this handle: deploy it again now), ``crashed`` (it ran
    and stopped without saying why: the reconciler restarts it with back-off, like a kubelet,
    and fails it after repeated crashes; ``message`` says how it ended, ``logs`` its last lines).
    """

    state: State
    url: str | None = None
    message: str | None = None
    logs: list[str] = field(default_factory=list)
    # A pending ``message`` that marks a step worth recording as an event (an environment
    # build's stages), not just the latest word on progress.
    milestone: bool = False
    handle: dict[str, Any] = field(default_factory=dict)
    # What a user should see of how it runs now (workers, scaled to zero, last wake), recorded
    # as the endpoint's ``serving`` details when it changes; None when the deployer has none.
    details: dict[str, Any] | None = None


@dataclass
class RouteDestination:
    endpoint_id: str
    weight: int
    handle: dict[str, Any]
    url: str | None
    model_name: str  # ``{model}-{version}`` the destination serves
    version: int


@dataclass
class RouteSpec:
    """A model endpoint: the model's stable URL and its traffic rule."""

    model_endpoint_id: int
    project: str
    model: str
    environment: Environment
    destinations: list[RouteDestination]
    mirror: RouteDestination | None = None


@dataclass
class DeployerContext:
    """What the control plane gives every deployer: where to keep files, which Python to run."""

    state_dir: str = ""  # a directory the deployer may write (logs, sockets, rule files)
    python: str = ""  # the interpreter that runs local model servers
    host: str = "127.0.0.1"  # the address local servers bind to
    options: dict[str, Any] = field(default_factory=dict)  # further MerlinApp settings by name
    # Called with an endpoint id when a deployment changed on its own (its process exited), so
    # the reconciler looks at it now instead of at its next idle check.
    on_change: Callable[[str], None] | None = None
    # False on a replica that does not reconcile (another one holds the reconciler's lock): its
    # deployers only read (logs, reachability) and start nothing, not even a warm stand-by.
    active: bool = True


@dataclass
class Reachability:
    reachable: bool
    message: str = ""


class Deployer(abc.ABC):
    """Deploys version endpoints and routes model endpoints in one environment."""

    kind: str = ""

    def __init__(self, environment: Environment, context: DeployerContext | None = None):
        self.environment = environment
        self.context = context or DeployerContext()

    @abc.abstractmethod
    async def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        """Start a deployment of ``spec`` and return at once, normally ``pending``.

        Does not wait for readiness: the reconciler polls :meth:`status`. A redeploy is a new
        ``spec.revision``; the previous revision keeps serving until the new one is ready and
        the reconciler calls :meth:`undeploy` on the old handle. Raises ``DeploymentError`` with
        a message for a person when the deployment cannot even be started.
        """

    @abc.abstractmethod
    async def status(self, spec: DeploymentSpec, handle: dict[str, Any]) -> DeploymentStatus:
        """Report the state of the deployment ``handle`` describes (see DeploymentStatus)."""

    @abc.abstractmethod
    async def undeploy(self, spec: DeploymentSpec, handle: dict[str, Any]) -> None:
        """Stop and remove the deployment. Idempotent: removing what is gone succeeds."""

    @abc.abstractmethod
    async def logs(self, spec: DeploymentSpec, handle: dict[str, Any], tail: int = 100) -> list[str]:
        """The last ``tail`` lines the model server wrote."""

    async def follow_logs(
        self, spec: DeploymentSpec, handle: dict[str, Any], tail: int = 100
    ) -> AsyncIterator[str]:
        """Yield the last ``tail`` lines, then new lines as they are written, until cancelled."""
        for line in await self.logs(spec, handle, tail):
            yield line

    @abc.abstractmethod
    async def route(self, spec: RouteSpec) -> str:
        """Apply the model endpoint's rule atomically and return its URL."""

    @abc.abstractmethod
    async def unroute(self, spec: RouteSpec) -> None:
        """Remove the model endpoint's routing. Idempotent."""

    async def resume(self) -> None:
        """Bring back, after the control plane starts, what this environment needs running."""

    async def stop_unknown(self, known: set[str]) -> list[str]:
        """At start, stop what this environment runs for no recorded intent (``known`` holds
        ``"<endpoint id>:<revision>"`` of every revision that may run); returns what was stopped."""
        return []

    def admit(self, request: ResourceRequest, policy: AutoscalingPolicy) -> dict[str, Any]:
        """Refuse (InvalidInput) what this environment cannot run, before anything is recorded;
        return what it enforces and what not (``{"enforced": [...], "unenforced": [...]}``)."""
        return {}

    async def check(self) -> Reachability:
        """Whether this environment can be deployed to right now, and if not why."""
        return Reachability(True)

    async def render(self, spec: DeploymentSpec) -> str:
        """The manifests a deploy would apply, as YAML (``--dry-run``); empty if none."""
        return ""

    async def close(self) -> None:
        """Release clients and connections; deployments keep running."""
