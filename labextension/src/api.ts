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
  updated_at?: string | null;
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

function json(method: string, body: unknown): RequestInit {
  return { method, body: JSON.stringify(body) };
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
  events: (params: { entity_id?: string; model_id?: number; limit?: number }) =>
    requestAPI<IMerlinEvent[]>(`events${query(params)}`)
};

export type MerlinApi = typeof api;
