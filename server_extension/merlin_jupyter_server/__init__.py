"""merlin-jupyter control plane: a Jupyter server extension (also `jupyter merlin`)."""


def _jupyter_server_extension_points():
    from .app import MerlinApp

    return [{"module": "merlin_jupyter_server", "app": MerlinApp}]
