from __future__ import annotations

import pytest

from merlin_jupyter_server.mlflow_host import MlflowHost
from merlin_jupyter_server.services.mlflow_gateway import MlflowGateway


@pytest.fixture(scope="session")
def hosted_mlflow(tmp_path_factory):
    """The control plane's hosted MLflow tracking server, a real process, on a SQLite store."""
    tmp = tmp_path_factory.mktemp("mlflow")
    host = MlflowHost(f"sqlite:///{tmp}/mlflow.db", str(tmp / "artifacts"), "/", run_dir=str(tmp / "run"))
    host.start()
    yield host
    host.stop()


@pytest.fixture(scope="session")
def mlflow_gateway(hosted_mlflow) -> MlflowGateway:
    return MlflowGateway("http://tracking", hosted_mlflow)


def mlflow_reader(host: MlflowHost):
    """MLflow's own client on the same store: what a user of that store would read."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=host.store_uri)
