"""The servers the serving benchmark compares against, each on the same model and machine.

- the *floor*: ``benchmarks/floor_server.py``, tornado around ``mlflow.pyfunc``'s predict and
  nothing else, in 1 or N ``SO_REUSEPORT`` processes: what this machine does around the model;
- KServe's Python ``ModelServer`` (PyPI ``kserve``) with a ``kserve.Model`` that loads the
  estimator with joblib, which is all KServe's own sklearn server does; it lives in a cached
  virtualenv of its own (``~/.cache/merlin-jupyter``), built once, like the compatibility tests'.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.cached_venv import cached_venv  # noqa: E402

KSERVE_VERSION = "0.21.0"


def kserve_requirements() -> list[str]:
    import joblib
    import numpy
    import sklearn

    # The estimator is pickled here and unpickled there: the same scikit-learn and numpy.
    return [f"kserve=={KSERVE_VERSION}", f"scikit-learn=={sklearn.__version__}",
            f"numpy=={numpy.__version__}", f"joblib=={joblib.__version__}"]


def kserve_python() -> Path:
    """The cached KServe virtualenv's python, built when missing."""
    return cached_venv(kserve_requirements(), "kserve-bench")


if __name__ == "__main__":
    print(kserve_python())
