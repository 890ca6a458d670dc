"""A Merlin PyFuncModel kept in its own module and logged with ``code_dir``: merlin-sdk 0.50 pins
cloudpickle 2.0.0, which cannot pickle a class defined in a notebook or ``__main__`` on Python
3.11 (its code objects load with "code() argument 13 must be str")."""
import numpy as np
from merlin.model import PyFuncModel


class ThresholdModel(PyFuncModel):
    """Called as Merlin calls it: infer(request body, headers=...)."""

    def initialize(self, artifacts):
        import joblib

        self.model = joblib.load(artifacts["model"])

    def infer(self, request, **kwargs):
        rows = np.array(request["instances"])
        headers = kwargs.get("headers") or {}
        return {"predictions": self.model.predict(rows).tolist(),
                "caller": headers.get("X-Caller") or headers.get("x-caller")}
