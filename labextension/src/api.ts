/**
 * The REST API's entities and calls, typed after server_extension/.../routes/openapi.yaml.
 * Every call goes through requestAPI (ServerConnection: auth and XSRF).
 */
import { requestAPI } from './request';

export type EndpointStatus = 'pending' | 'running' | 'serving' | 'failed' | 'terminated';
export type DeploymentMode = 'serverless' | 'raw_deployment';
export type MetricsType = 'cpu_utilization' | 'memory_utilization' | 'concurrency' | 'rps';

export const MODEL_TYPES = [
  'pyfunc',
  'sklearn',
  'xgboost',
  'tensorflow',
  'pytorch',
  'onnx',
  'custom'
] as const;
export const METRICS_TYPES: MetricsType[] = [
  'concurrency',
  'rps',
  'cpu_utilization',
  'memory_utilization'
];
export const DEPLOYMENT_MODES: DeploymentMode[] = ['serverless', 'raw_deployment'];

export interface IResourceRequest {
  min_replica?: number;
  max_replica?: number;
  cpu_request?: string;
  memory_request?: string;
  gpu_name?: string;
  gpu_request?: string;
  workers?: number;
}

export interface IAutoscalingPolicy {
  metrics_type: MetricsType;
  target_value: number;
}

export interface IEnvVar {
  name: string;
  value: string;
}

export interface IEnvironment {
  id: number;
  name: string;
  cluster: string;
  is_default: boolean;
  kind?: 'local' | 'kubernetes';
  deployment_mode?: DeploymentMode;
  default_resource_request: IResourceRequest;
  reachable?: boolean | null;
  reachable_message?: string | null;
}

export interface IProject {
  id: number;
  name: string;
  mlflow_tracking_url: string;
}

export interface IDestination {
  version_endpoint_id: string;
  weight: number;
}

export interface ITrafficRule {
  destinations: IDestination[];
  mirror?: { id: string } | null;
}

export interface IModelEndpoint {
  id: number;
  model_id: number;
  status: EndpointStatus;
  url: string | null;
  environment_name: string;
  rule: ITrafficRule;
}

export interface IModel {
  id: number;
  project_id: number;
  name: string;
  type: string;
  mlflow_experiment_id: number;
  mlflow_url?: string;
  endpoints: IModelEndpoint[];
}

export interface IVersionEndpoint {
  id: string;
  version_id: number;
  model_id: number;
  status: EndpointStatus;
  url: string | null;
  service_name?: string;
  environment_name: string;
  message: string | null;
  resource_request: IResourceRequest;
  env_vars: IEnvVar[];
  deployment_mode: DeploymentMode;
  autoscaling_policy?: IAutoscalingPolicy;
  protocol: string;
  revision?: number;
  logger?: ILogger | null;
  updated_at?: string | null;
  serving?: IServing | null;
}

/** Local environment: which settings are enforced (in words) and how the endpoint runs now. */
export interface IServing {
  enforced?: string[];
  unenforced?: string[];
  workers?: number;
  min_workers?: number;
  max_workers?: number;
  scaled_to_zero?: boolean;
  last_wake?: string | null;
}

export const LOGGER_MODES = ['all', 'request', 'response'] as const;
export type LoggerMode = (typeof LOGGER_MODES)[number];

/** Merlin's request/response logger of an endpoint (sample_rate: local environments only). */
export interface ILogger {
  model?: { enabled: boolean; mode: LoggerMode; sample_rate?: number };
}

/** One logged prediction; request and response are JSON text (null when the mode leaves them out). */
export interface ILoggedRequest {
  id: string;
  time: string;
  latency_ms: number;
  status: number;
  version: number;
  protocol: string;
  route: 'direct' | 'model_endpoint' | 'mirror';
  request: string | null;
  response: string | null;
}

export interface IVersion {
  id: number;
  model_id: number;
  mlflow_run_id: string;
  mlflow_url?: string;
  artifact_uri: string;
  labels: Record<string, string>;
  python_version?: string;
  endpoints: IVersionEndpoint[];
  created_at?: string | null;
}

export interface IDeployRequest {
  environment_name: string;
  resource_request: IResourceRequest;
  env_vars: IEnvVar[];
  deployment_mode: DeploymentMode;
  autoscaling_policy: IAutoscalingPolicy;
  protocol: 'HTTP_JSON';
  logger?: ILogger;
}

export interface IMerlinEvent {
  id: number;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string;
  project_id?: number | null;
  model_id?: number | null;
  message: string;
  created_at: string;
}

/** Who the control plane takes this user for: the name its events show. */
export interface ICaller {
  name: string;
  hub_admin: boolean;
  team_mode: boolean;
}

function json(method: string, body: unknown): RequestInit {
  return { method, body: JSON.stringify(body) };
}

export interface IMetricsPoint {
  time: string;
  version: number;
  rps: number | null;
  requests: number | null;
  error_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  cpu_cores?: number | null;
  memory_mb?: number | null;
}

export interface IMetricsSeries {
  source: string;
  points: IMetricsPoint[];
}

export const ALERT_METRICS = ['throughput', 'latency', 'error_rate', 'cpu', 'memory'] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];
export type AlertSeverity = 'WARNING' | 'CRITICAL';

/** What a new alert is sent as (AlertRequest); duration is a duration text such as "1m". */
export interface IAlertRequest {
  metric: AlertMetric;
  threshold: number;
  duration?: string;
  percentile?: 50 | 95 | 99;
  severity?: AlertSeverity;
}

export interface IAlert {
  id: number;
  model_id: number;
  model_endpoint_id: number;
  metric: AlertMetric;
  percentile: number | null;
  threshold: number;
  duration_seconds: number;
  severity: AlertSeverity;
  state: 'ok' | 'firing';
  value: number | null;
  fired_at: string | null;
}

export type RolloutStatus = 'running' | 'paused' | 'completed' | 'rolled_back' | 'aborted';
export type RolloutAction = 'pause' | 'resume' | 'abort';

/** A guarded rollout of a model endpoint: the new version's share rises step by step. */
export interface IRollout {
  id: number;
  model_id: number;
  model_endpoint_id: number;
  new_version: number;
  old_version: number;
  new_version_endpoint_id?: string;
  old_version_endpoint_id?: string;
  steps: number[];
  bake_seconds: number;
  guard: Partial<Record<'error_rate' | 'p50_ms' | 'p95_ms' | 'p99_ms', number>>;
  min_requests?: number;
  status: RolloutStatus;
  /** -1 before its first step is applied. */
  step_index: number;
  /** The new version's share now (percent). */
  weight: number;
  step_started_at: string | null;
  message: string | null;
  created_at: string | null;
}

function query(params: Record<string, string | number | undefined>): string {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined);
  if (!pairs.length) {
    return '';
  }
  return '?' + pairs.map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`).join('&');
}

const endpointPath = (modelId: number, version: number, endpointId?: string): string =>
  `models/${modelId}/versions/${version}/endpoint` + (endpointId ? `/${endpointId}` : '');

export const api = {
  caller: () => requestAPI<ICaller>('user'),
  environments: () => requestAPI<IEnvironment[]>('environments'),
  projects: () => requestAPI<IProject[]>('projects'),
  createProject: (name: string) => requestAPI<IProject>('projects', json('POST', { name })),
  models: (projectId: number) => requestAPI<IModel[]>(`projects/${projectId}/models`),
  createModel: (projectId: number, name: string, type: string) =>
    requestAPI<IModel>(`projects/${projectId}/models`, json('POST', { name, type })),
  /** Newest first; one page is plenty for a sidebar. */
  versions: (modelId: number, limit = 50) =>
    requestAPI<IVersion[]>(`models/${modelId}/versions${query({ limit })}`),
  endpoint: (modelId: number, version: number, endpointId: string) =>
    requestAPI<IVersionEndpoint>(endpointPath(modelId, version, endpointId)),
  deploy: (modelId: number, version: number, request: IDeployRequest) =>
    requestAPI<IVersionEndpoint>(endpointPath(modelId, version), json('POST', request)),
  redeploy: (modelId: number, version: number, endpointId: string, request: IDeployRequest) =>
    requestAPI<IVersionEndpoint>(
      endpointPath(modelId, version, endpointId),
      json('PUT', request)
    ),
  undeploy: (modelId: number, version: number, endpointId: string) =>
    requestAPI<IVersionEndpoint>(endpointPath(modelId, version, endpointId), {
      method: 'DELETE'
    }),
  logs: (modelId: number, version: number, endpointId: string, tail = 200) =>
    requestAPI<{ logs: string[] }>(
      endpointPath(modelId, version, endpointId) + `/logs${query({ tail })}`
    ),
  /** The endpoint's logged requests, newest first. */
  requests: (modelId: number, version: number, endpointId: string,
             params: { since?: string; status?: string; limit?: number } = {}) =>
    requestAPI<{ requests: ILoggedRequest[] }>(
      endpointPath(modelId, version, endpointId) + `/requests${query(params)}`
    ),
  modelEndpoints: (modelId: number) =>
    requestAPI<IModelEndpoint[]>(`models/${modelId}/endpoints`),
  /** Creates the model endpoint of an environment, or replaces its rule in one PUT. */
  serveTraffic: (modelId: number, environment: string, rule: ITrafficRule, existing?: number) =>
    existing === undefined
      ? requestAPI<IModelEndpoint>(
          `models/${modelId}/endpoints`,
          json('POST', { environment_name: environment, rule })
        )
      : requestAPI<IModelEndpoint>(`models/${modelId}/endpoints/${existing}`, json('PUT', { rule })),
  stopServing: (modelId: number, modelEndpointId: number) =>
    requestAPI<IModelEndpoint>(`models/${modelId}/endpoints/${modelEndpointId}`, {
      method: 'DELETE'
    }),
  metrics: (modelId: number, version: number, endpointId: string, since = '15m') =>
    requestAPI<IMetricsSeries>(endpointPath(modelId, version, endpointId) + `/metrics${query({ since })}`),
  modelEndpointMetrics: (modelId: number, modelEndpointId: number, since = '15m') =>
    requestAPI<IMetricsSeries>(`models/${modelId}/endpoints/${modelEndpointId}/metrics${query({ since })}`),
  /** The latest 50 rollouts of a model endpoint, newest first. */
  rollouts: (modelId: number, modelEndpointId: number) =>
    requestAPI<IRollout[]>(`models/${modelId}/endpoints/${modelEndpointId}/rollouts`),
  actOnRollout: (modelId: number, modelEndpointId: number, rolloutId: number, action: RolloutAction) =>
    requestAPI<IRollout>(`models/${modelId}/endpoints/${modelEndpointId}/rollouts/${rolloutId}/${action}`, {
      method: 'POST'
    }),
  alerts: (modelId: number, modelEndpointId: number) =>
    requestAPI<IAlert[]>(`models/${modelId}/endpoints/${modelEndpointId}/alerts`),
  createAlert: (modelId: number, modelEndpointId: number, request: IAlertRequest) =>
    requestAPI<IAlert>(`models/${modelId}/endpoints/${modelEndpointId}/alerts`, json('POST', request)),
  deleteAlert: (modelId: number, modelEndpointId: number, alertId: number) =>
    requestAPI<void>(`models/${modelId}/endpoints/${modelEndpointId}/alerts/${alertId}`, { method: 'DELETE' }),
  events: (params: { entity_id?: string; model_id?: number; limit?: number }) =>
    requestAPI<IMerlinEvent[]>(`events${query(params)}`)
};

export type MerlinApi = typeof api;
