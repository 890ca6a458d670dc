"""merlin-jupyter, kernel side: ``import merlin_jupyter as merlin``.

Merlin's fluent SDK (``set_project``, ``set_model``, ``new_model_version``, ``log_model``,
``deploy``, ...) talking to the control plane in the Jupyter server over HTTP. Heavy libraries
(MLflow, httpx) load on first use, so importing this is cheap.
"""
from ._version import __version__

_FLUENT = {
    "set_url", "get_url", "set_project", "active_project", "set_model", "active_model",
    "new_model_version", "log_param", "log_metric", "set_tag", "log_model", "log_pyfunc_model",
    "deploy", "undeploy", "logs", "serve_traffic", "stop_serving_traffic", "list_environments",
    "list_projects", "list_models", "list_versions", "list_endpoints", "MerlinError",
    "MerlinDeploymentError",
}


def __getattr__(name: str):
    if name in _FLUENT:
        from . import fluent

        return getattr(fluent, name)
    raise AttributeError(f"module 'merlin_jupyter' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_FLUENT])


def load_ipython_extension(ipython) -> None:
    """``%load_ext merlin_jupyter``: registers the ``%merlin`` magic."""
    from .magics import MerlinMagics

    ipython.register_magics(MerlinMagics)


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "merlin-jupyter"}]
