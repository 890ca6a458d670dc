"""merlin-jupyter, kernel side: ``import merlin_jupyter as merlin``.

Merlin's fluent SDK (``set_project``, ``set_model``, ``new_model_version``, ``log_model``,
``deploy``, ...) talking to the control plane in the Jupyter server over HTTP. Heavy libraries
(MLflow, httpx) load on first use, so importing this is cheap.
"""
from ._version import __version__

_NAMES = {
    "fluent": ("set_url", "get_url", "set_project", "active_project", "set_model", "active_model",
               "new_model_version", "log_param", "log_params", "log_metric", "set_tag", "log_model", "log_pyfunc_model", "log_version",
               "create_environment", "list_environments", "list_projects", "list_models", "list_versions", "list_endpoints",
               "default_environment", "MerlinError"),
    "deployments": ("deploy", "undeploy", "logs", "follow_logs", "MerlinDeploymentError"),
    "traffic": ("serve_traffic", "stop_serving_traffic", "rollback", "model_endpoint"),
    "checks": ("check_version", "MerlinCheckError"),
    "logger": ("Logger", "LoggerConfig", "LoggerMode"),
    "request_logs": ("requests",),
    "observe": ("metrics", "rollout", "rollouts", "alert", "list_alerts"),
}
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}


def __getattr__(name: str):
    if name in _MODULE_OF:
        from importlib import import_module

        return getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)
    raise AttributeError(f"module 'merlin_jupyter' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])


def load_ipython_extension(ipython) -> None:
    """``%load_ext merlin_jupyter``: registers the ``%merlin`` magic and its completion."""
    from .completion import register
    from .magics import MerlinMagics

    magics = MerlinMagics(shell=ipython)
    ipython.register_magics(magics)
    register(ipython)
    if magics.check:  # pre-deploy checks run in a process that warms up now, in the background
        from .checks import prepare

        prepare()


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "merlin-jupyter"}]
