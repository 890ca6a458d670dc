/** Small entities shaped like the REST API's answers, for the unit tests. */
import { IEnvironment, IModel, IModelEndpoint, IProject, IVersion, IVersionEndpoint } from '../api';

export const project = (id = 1, name = 'food-recs'): IProject => ({
  id,
  name,
  mlflow_tracking_url: 'http://localhost/merlin/mlflow'
});

export const modelEndpoint = (id: number, rule: IModelEndpoint['rule'], status: IModelEndpoint['status'] = 'serving'): IModelEndpoint => ({
  id,
  model_id: 10,
  status,
  url: 'http://127.0.0.1:9000/food-recs/churn',
  environment_name: 'local',
  rule
});

export const model = (id = 10, projectId = 1, endpoints: IModelEndpoint[] = []): IModel => ({
  id,
  project_id: projectId,
  name: 'churn',
  type: 'sklearn',
  mlflow_experiment_id: 1,
  endpoints
});

export const endpoint = (id: string, version: number, status: IVersionEndpoint['status'] = 'running'): IVersionEndpoint => ({
  id,
  version_id: version,
  model_id: 10,
  status,
  url: `http://127.0.0.1:8123/v1/models/churn-${version}:predict`,
  environment_name: 'local',
  message: status === 'failed' ? 'ModuleNotFoundError: No module named xgboost' : null,
  resource_request: { min_replica: 1, max_replica: 1 },
  env_vars: [],
  deployment_mode: 'serverless',
  protocol: 'HTTP_JSON'
});

export const version = (id: number, endpoints: IVersionEndpoint[] = []): IVersion => ({
  id,
  model_id: 10,
  mlflow_run_id: `run${id}abcdef0123`,
  artifact_uri: '/tmp/artifacts',
  labels: {},
  endpoints
});

export const environment = (name = 'local', extra: Partial<IEnvironment> = {}): IEnvironment => ({
  id: 1,
  name,
  cluster: name === 'local' ? 'local' : 'staging-cluster',
  is_default: name === 'local',
  kind: name === 'local' ? 'local' : 'kubernetes',
  default_resource_request: { min_replica: 1, max_replica: 2, cpu_request: '500m', memory_request: '512Mi' },
  ...extra
});
