"""merlin-jupyter, kernel side: ``import merlin_jupyter as merlin``."""
from ._version import __version__


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "merlin-jupyter"}]
