"""The route table: every path the control plane serves, relative to Jupyter's base_url."""
from __future__ import annotations

from . import catalog, endpoints, observe, openapi, request_logs
from .caller import CallerHandler
from .base import NotFoundHandler
from .mlflow import MlflowHandler
from .serve import EndpointProxyHandler, ModelProxyHandler

API = "/merlin/api/v1"
_ID = r"([^/]+)"  # ids are parsed (and rejected in words) by the handlers, not by the regex

API_ROUTES = [
    (f"{API}/environments", catalog.EnvironmentsHandler),
    (f"{API}/projects", catalog.ProjectsHandler),
    (f"{API}/projects/{_ID}", catalog.ProjectHandler),
    (f"{API}/projects/{_ID}/models", catalog.ModelsHandler),
    (f"{API}/projects/{_ID}/models/{_ID}", catalog.ModelHandler),
    (f"{API}/models/{_ID}/versions", catalog.VersionsHandler),
    (f"{API}/models/{_ID}/versions/{_ID}", catalog.VersionHandler),
    (f"{API}/models/{_ID}/versions/{_ID}/endpoint", endpoints.VersionEndpointsHandler),
    (f"{API}/models/{_ID}/versions/{_ID}/endpoint/{_ID}", endpoints.VersionEndpointHandler),
    (f"{API}/models/{_ID}/versions/{_ID}/endpoint/{_ID}/logs", endpoints.VersionEndpointLogsHandler),
    (f"{API}/models/{_ID}/versions/{_ID}/endpoint/{_ID}/requests", request_logs.VersionEndpointRequestsHandler),
    (f"{API}/models/{_ID}/schemas", catalog.ModelSchemasHandler),
    (f"{API}/models/{_ID}/schemas/{_ID}", catalog.ModelSchemaHandler),
    (f"{API}/models/{_ID}/endpoints", endpoints.ModelEndpointsHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}", endpoints.ModelEndpointHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}/requests", request_logs.ModelEndpointRequestsHandler),
    (f"{API}/models/{_ID}/versions/{_ID}/endpoint/{_ID}/metrics", observe.VersionEndpointMetricsHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}/metrics", observe.ModelEndpointMetricsHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}/rollouts", observe.RolloutsHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}/rollouts/{_ID}", observe.RolloutHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}/rollouts/{_ID}/{_ID}", observe.RolloutActionHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}/alerts", observe.AlertsHandler),
    (f"{API}/models/{_ID}/endpoints/{_ID}/alerts/{_ID}", observe.AlertHandler),
    (f"{API}/models/{_ID}/alerts", observe.ModelAlertsHandler),
    (f"{API}/events", catalog.EventsHandler),
    (f"{API}/user", CallerHandler),
    (f"{API}/openapi.json", openapi.OpenAPIHandler),
]


def route_table() -> list[tuple]:
    return [
        *API_ROUTES,
        (r"/merlin/mlflow/?(.*)", MlflowHandler),
        (r"/merlin/serve/endpoints/([^/]+)/?(.*)", EndpointProxyHandler),
        (r"/merlin/serve/models/([^/]+/[^/]+)/?(.*)", ModelProxyHandler),
        (r"/merlin/api/(.*)", NotFoundHandler),
    ]
