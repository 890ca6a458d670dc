"""Loaded (``-p merlin_e2e_plugin``) into Merlin's own end-to-end suite, run by merlin-sdk's python.

It changes only how the suite connects. A Merlin deployment authenticates the SDK with a Google
ID token (``use_google_oauth``, the default of ``merlin.set_url`` that Merlin's CLI relies on);
this control plane uses the Jupyter token instead: every client the SDK builds (``set_url``
builds a new one each time, and each Merlin test calls it) sends that token and asks Google
for nothing. MLflow 1.26 reads MLFLOW_TRACKING_TOKEN itself; the URL, project and environment
come from Merlin's own E2E_* variables. Merlin's test files are not touched.
"""
import os

import merlin.client

_TOKEN = os.environ["E2E_MERLIN_TOKEN"]
_init = merlin.client.MerlinClient.__init__


def _init_with_token(self, merlin_url, use_google_oauth=True):
    _init(self, merlin_url, use_google_oauth=False)
    self._api_client.set_default_header("Authorization", f"token {_TOKEN}")


merlin.client.MerlinClient.__init__ = _init_with_token
