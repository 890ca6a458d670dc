"""Connects the official merlin-sdk to the control plane named by MERLIN_COMPAT_URL/TOKEN.

The two lines a Merlin notebook changes: the URL (no Google OAuth locally), and the Jupyter
token as a header on the SDK's API client. MLflow 1.26 reads MLFLOW_TRACKING_TOKEN itself.
"""
import os
import warnings

warnings.filterwarnings("ignore")

import merlin  # noqa: E402

URL = os.environ["MERLIN_COMPAT_URL"]
TOKEN = os.environ["MERLIN_COMPAT_TOKEN"]


def connect() -> None:
    merlin.set_url(URL, use_google_oauth=False)
    merlin.fluent._merlin_client._api_client.set_default_header("Authorization", f"token {TOKEN}")
