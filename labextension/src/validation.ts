/**
 * The rules the dialogs check before they submit. They repeat the server's own rules
 * (services/validation.py) so a mistake is pointed at next to its field instead of after a
 * round trip; the server still checks everything and its words are shown if it disagrees.
 */
import {
  DeploymentMode,
  IDeployRequest,
  IEnvironment,
  ITrafficRule,
  LoggerMode,
  IVersionEndpoint,
  MetricsType
} from './api';

/** Field name → what is wrong with it. Empty means the form may be submitted. */
export type FormErrors = Record<string, string>;

const RFC1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MODEL_NAME = /^[a-z][a-z0-9-]*[a-z0-9]$/;
const CPU = /^([0-9]+m|[0-9]+(\.[0-9]+)?)$/;
const MEMORY = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$/;
const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;
const WHOLE = /^[0-9]+$/;

export function projectNameError(name: string): string | null {
  if (name.length < 3 || name.length > 50 || !RFC1123.test(name)) {
    return (
      'Use 3–50 lowercase letters, digits or "-", starting and ending with a letter or digit ' +
      '(it becomes a Kubernetes namespace), e.g. food-recommendation.'
    );
  }
  return null;
}

export function modelNameError(name: string): string | null {
  if (name.length < 3 || name.length > 25 || !MODEL_NAME.test(name)) {
    return (
      'Use 3–25 lowercase letters, digits or "-", starting with a letter and ending with a ' +
      'letter or digit, e.g. churn-model.'
    );
  }
  return null;
}

/** The deploy dialog's inputs, as typed (strings), so half-typed values survive re-renders. */
export interface IDeployForm {
  environment: string;
  minReplica: string;
  maxReplica: string;
  cpu: string;
  memory: string;
  deploymentMode: DeploymentMode;
  metricsType: MetricsType;
  targetValue: string;
  envVars: { name: string; value: string }[];
  /** Request/response logging: off, or what to log, and the share of requests (as typed). */
  logRequests: boolean;
  logMode: LoggerMode;
  logSample: string;
}

/** A new deploy starts from the environment's defaults; a redeploy from the endpoint's settings. */
export function deployFormDefaults(
  environment: IEnvironment | undefined,
  endpoint?: IVersionEndpoint
): IDeployForm {
  const resources = endpoint?.resource_request ?? environment?.default_resource_request ?? {};
  return {
    environment: endpoint?.environment_name ?? environment?.name ?? 'local',
    minReplica: String(resources.min_replica ?? 1),
    maxReplica: String(resources.max_replica ?? 1),
    cpu: resources.cpu_request ?? '',
    memory: resources.memory_request ?? '',
    deploymentMode: endpoint?.deployment_mode ?? environment?.deployment_mode ?? 'serverless',
    metricsType: endpoint?.autoscaling_policy?.metrics_type ?? 'concurrency',
    targetValue: String(endpoint?.autoscaling_policy?.target_value ?? 1),
    envVars: (endpoint?.env_vars ?? []).map(v => ({ name: v.name, value: v.value })),
    logRequests: endpoint?.logger?.model?.enabled ?? false,
    logMode: endpoint?.logger?.model?.mode ?? 'all',
    logSample: String(endpoint?.logger?.model?.sample_rate ?? 1)
  };
}

function replicaErrors(form: IDeployForm, errors: FormErrors): void {
  if (!WHOLE.test(form.minReplica)) {
    errors.minReplica = 'Minimum replicas must be a whole number of 0 or more.';
  }
  if (!WHOLE.test(form.maxReplica) || Number(form.maxReplica) < 1) {
    errors.maxReplica = 'Maximum replicas must be a whole number of 1 or more.';
  }
  if (!errors.minReplica && !errors.maxReplica && +form.minReplica > +form.maxReplica) {
    errors.minReplica = `Minimum replicas (${form.minReplica}) is more than the maximum (${form.maxReplica}).`;
  }
}

function autoscalingErrors(form: IDeployForm, errors: FormErrors): void {
  const target = Number(form.targetValue);
  if (form.targetValue.trim() === '' || !Number.isFinite(target) || target <= 0) {
    errors.targetValue = 'The autoscaling target must be a positive number.';
  } else if (form.metricsType.endsWith('utilization') && target > 100) {
    errors.targetValue = 'A utilization target is a percentage: give a value from 1 to 100.';
  }
}

function envVarErrors(form: IDeployForm, errors: FormErrors): void {
  const seen = new Set<string>();
  form.envVars.forEach((variable, index) => {
    if (!ENV_VAR.test(variable.name)) {
      errors[`envVars.${index}`] =
        'A variable name uses letters, digits and "_", and does not start with a digit.';
    } else if (seen.has(variable.name)) {
      errors[`envVars.${index}`] = `${variable.name} is set twice.`;
    }
    seen.add(variable.name);
  });
}

function loggerErrors(form: IDeployForm, environment: IEnvironment | undefined, errors: FormErrors): void {
  if (!form.logRequests) {
    return;
  }
  const share = Number(form.logSample);
  if (form.logSample.trim() === '' || !Number.isFinite(share) || share <= 0 || share > 1) {
    errors.logSample = 'The share of requests logged is a number above 0 and at most 1, e.g. 0.1.';
  } else if (environment && environment.kind !== 'local' && share < 1) {
    errors.logSample = `KServe logs every request of ${environment.name}: sampling works on local only (use 1).`;
  }
}

export function validateDeploy(form: IDeployForm, environments: IEnvironment[]): FormErrors {
  const errors: FormErrors = {};
  const environment = environments.find(e => e.name === form.environment);
  if (!environment) {
    errors.environment = 'Choose the environment to deploy to.';
  } else if (environment.reachable === false) {
    errors.environment = `${environment.name} cannot be reached now: ${environment.reachable_message ?? 'check its cluster settings.'}`;
  }
  replicaErrors(form, errors);
  if (form.cpu && !CPU.test(form.cpu)) {
    errors.cpu = 'CPU is a number of cores, e.g. 500m or 2.';
  }
  if (form.memory && !MEMORY.test(form.memory)) {
    errors.memory = 'Memory is a quantity, e.g. 512Mi or 2Gi.';
  }
  autoscalingErrors(form, errors);
  envVarErrors(form, errors);
  loggerErrors(form, environment, errors);
  return errors;
}

export function toDeployRequest(form: IDeployForm): IDeployRequest {
  const resources: IDeployRequest['resource_request'] = {
    min_replica: Number(form.minReplica),
    max_replica: Number(form.maxReplica)
  };
  if (form.cpu) {
    resources.cpu_request = form.cpu;
  }
  if (form.memory) {
    resources.memory_request = form.memory;
  }
  return {
    environment_name: form.environment,
    resource_request: resources,
    env_vars: form.envVars.map(v => ({ name: v.name, value: v.value })),
    deployment_mode: form.deploymentMode,
    autoscaling_policy: { metrics_type: form.metricsType, target_value: Number(form.targetValue) },
    protocol: 'HTTP_JSON',
    logger: {
      model: form.logRequests
        ? { enabled: true, mode: form.logMode, sample_rate: Number(form.logSample) }
        : { enabled: false, mode: form.logMode }
    }
  };
}

/** The traffic editor's inputs: one row per destination, weights as typed. */
export interface ITrafficForm {
  environment: string;
  destinations: { endpointId: string; weight: string }[];
  mirror: string;
}

/** Only endpoints that are up can take traffic (the server says the same, with a 409). */
export function routable(endpoint: IVersionEndpoint): boolean {
  return endpoint.status === 'running' || endpoint.status === 'serving';
}

export function weightTotal(form: ITrafficForm): number {
  return form.destinations.reduce((sum, d) => sum + (WHOLE.test(d.weight) ? +d.weight : 0), 0);
}

function destinationErrors(form: ITrafficForm, errors: FormErrors): void {
  const seen = new Set<string>();
  form.destinations.forEach((destination, index) => {
    if (!destination.endpointId) {
      errors[`destinations.${index}`] = 'Choose a version endpoint.';
    } else if (seen.has(destination.endpointId)) {
      errors[`destinations.${index}`] = 'This endpoint is already a destination.';
    } else if (!WHOLE.test(destination.weight) || +destination.weight > 100) {
      errors[`destinations.${index}`] = 'A weight is a whole number from 0 to 100.';
    }
    seen.add(destination.endpointId);
  });
}

export function validateTraffic(form: ITrafficForm, endpoints: IVersionEndpoint[]): FormErrors {
  const errors: FormErrors = {};
  if (!form.destinations.length) {
    errors.destinations = 'Add at least one destination.';
  }
  destinationErrors(form, errors);
  const total = weightTotal(form);
  if (form.destinations.length && total !== 100) {
    errors.total = `The weights add up to ${total}; they must add up to 100.`;
  }
  if (form.mirror && form.destinations.some(d => d.endpointId === form.mirror)) {
    errors.mirror = 'The mirror must not also be a destination.';
  }
  for (const id of [...form.destinations.map(d => d.endpointId), form.mirror]) {
    const endpoint = endpoints.find(e => e.id === id);
    if (id && endpoint && !routable(endpoint)) {
      errors.status = `Version ${endpoint.version_id}'s endpoint is ${endpoint.status}: only running or serving endpoints can take traffic.`;
    }
  }
  return errors;
}

export function toTrafficRule(form: ITrafficForm): ITrafficRule {
  const rule: ITrafficRule = {
    destinations: form.destinations.map(d => ({
      version_endpoint_id: d.endpointId,
      weight: Number(d.weight)
    }))
  };
  if (form.mirror) {
    rule.mirror = { id: form.mirror };
  }
  return rule;
}

/** Weights that add up to 100 for n destinations, the first taking the remainder. */
export function evenWeights(count: number): string[] {
  if (count <= 0) {
    return [];
  }
  const share = Math.floor(100 / count);
  return Array.from({ length: count }, (_, i) =>
    String(i === 0 ? 100 - share * (count - 1) : share)
  );
}
