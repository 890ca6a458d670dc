"""merlin-sdk's own pyfunc models, called as Merlin's pyfunc server calls them.

Merlin's server (python/pyfunc-server, ``PyFuncModel.predict``) hands every model derived from
``merlin.pyfunc``'s classes the request body and the request headers in two reserved input
keys, through the model's ``predict``; the model then does its own steps (``PyFuncModel``:
``infer(body, headers=...)``, or ``infer(body)`` for models written before 0.5.2;
``PyFuncV3Model``: ``preprocess`` -> ``infer`` -> ``postprocess``). A V3 model answers with a
``PyFuncOutput``, of which the HTTP answer is ``http_response`` (the model input and output it
also carries are what Merlin publishes for model observability).
"""
from __future__ import annotations

from typing import Any, Callable

# merlin.pyfunc's keys (PYFUNC_MODEL_INPUT_KEY, PYFUNC_EXTRA_ARGS_KEY).
MERLIN_INPUT_KEY, MERLIN_EXTRA_ARGS_KEY = "__INPUT__", "__EXTRA_ARGS__"
MERLIN_MODEL_CLASSES = ("PyFuncModel", "PyFuncV3Model")


def is_merlin_sdk_model(python_model: Any) -> bool:
    return any(cls.__module__ == "merlin.pyfunc" and cls.__name__ in MERLIN_MODEL_CLASSES
               for cls in type(python_model).__mro__)


def merlin_sdk_infer(python_model: Any, context: Any) -> Callable[[Any, dict], Any] | None:
    """``infer(body, headers)`` for a merlin-sdk model, None for any other."""
    if not is_merlin_sdk_model(python_model):
        return None

    def infer(body: Any, headers: dict) -> Any:
        output = python_model.predict(
            context, {MERLIN_INPUT_KEY: body, MERLIN_EXTRA_ARGS_KEY: {"headers": headers}})
        return unwrap_output(output)

    return infer


def unwrap_output(output: Any) -> Any:
    """A ``PyFuncOutput``'s HTTP answer; anything else as it is."""
    if type(output).__name__ == "PyFuncOutput" and hasattr(output, "http_response"):
        return output.http_response
    return output
