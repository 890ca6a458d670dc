"""Model inputs as the JSON ``instances`` a V1 request carries: one encoding for every client.

The SDK's ``predict``, the deploy summary's snippets and the model server's readiness check all
turn a DataFrame, an array or a list into instances here, so the input example is predicted at
readiness exactly as a request would send it. JSON has no NaN and no time: a missing value is
``null`` (the server reads it back as NaN) and a timestamp is an ISO 8601 string (read back as
the signature's datetime).
"""
from __future__ import annotations

import datetime
import math
from typing import Any


def plain(value: Any) -> Any:
    """``value`` with only what JSON carries: None for NaN/NaT/NA, ISO strings for times."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return None if _is_missing(value) else value.isoformat()  # pandas' Timestamp is a datetime
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy arrays and scalars
        return plain(value.tolist()) if getattr(value, "ndim", 0) else plain(_numpy_scalar(value))
    return None if _is_missing(value) else value


def _numpy_scalar(value: Any) -> Any:
    if str(value.dtype).startswith(("datetime64", "timedelta64")):
        import pandas as pd

        converted = pd.Timestamp(value) if str(value.dtype).startswith("datetime64") else pd.Timedelta(value)
        return converted if converted is not pd.NaT else None
    return value.item()


def _is_missing(value: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def to_instances(data: Any) -> Any:
    """A DataFrame as records (one dict per row), a Series or array as a list, JSON-safe."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        columns = [str(c) for c in data.columns]
        return [dict(zip(columns, (plain(v) for v in row))) for row in data.itertuples(index=False, name=None)]
    if hasattr(data, "to_list") and hasattr(data, "dtype"):  # a pandas Series or Index
        return [plain(v) for v in data.to_list()]
    return plain(data)
