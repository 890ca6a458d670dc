import {
  deployFormDefaults,
  evenWeights,
  IDeployForm,
  ITrafficForm,
  modelNameError,
  projectNameError,
  toDeployRequest,
  toTrafficRule,
  validateDeploy,
  validateTraffic,
  weightTotal
} from '../validation';
import { endpoint, environment } from './fixtures';

describe('names', () => {
  it('accepts RFC 1123 project names of 3 to 50 characters', () => {
    expect(projectNameError('food-recommendation')).toBeNull();
    expect(projectNameError('abc')).toBeNull();
    expect(projectNameError('ab')).toMatch(/3–50/);
    expect(projectNameError('Food')).not.toBeNull();
    expect(projectNameError('-food')).not.toBeNull();
    expect(projectNameError('a'.repeat(51))).not.toBeNull();
  });

  it('wants model names that start with a letter, up to 25 characters', () => {
    expect(modelNameError('churn-model')).toBeNull();
    expect(modelNameError('1churn')).toMatch(/starting with a letter/);
    expect(modelNameError('churn-')).not.toBeNull();
    expect(modelNameError('a'.repeat(26))).not.toBeNull();
  });
});

describe('deploy form', () => {
  const environments = [environment('local'), environment('staging', { reachable: false, reachable_message: 'connection refused' })];
  const form = (patch: Partial<IDeployForm> = {}): IDeployForm => ({ ...deployFormDefaults(environments[0]), ...patch });

  it("starts from the environment's default resources", () => {
    expect(form()).toMatchObject({ environment: 'local', minReplica: '1', maxReplica: '2', cpu: '500m', memory: '512Mi' });
    expect(validateDeploy(form(), environments)).toEqual({});
  });

  it("starts a redeploy from the endpoint's own settings", () => {
    const e = { ...endpoint('e1', 1), env_vars: [{ name: 'A', value: '1' }], resource_request: { min_replica: 0, max_replica: 3 } };
    const defaults = deployFormDefaults(environments[0], e);
    expect(defaults).toMatchObject({ minReplica: '0', maxReplica: '3', cpu: '', envVars: [{ name: 'A', value: '1' }] });
  });

  it('says what is wrong with each field', () => {
    const errors = validateDeploy(
      form({ minReplica: 'x', maxReplica: '0', cpu: 'lots', memory: '2 GB', targetValue: '-1' }),
      environments
    );
    expect(Object.keys(errors).sort()).toEqual(['cpu', 'maxReplica', 'memory', 'minReplica', 'targetValue']);
    expect(errors.cpu).toMatch(/500m/);
  });

  it('refuses more minimum than maximum replicas', () => {
    expect(validateDeploy(form({ minReplica: '3', maxReplica: '2' }), environments).minReplica).toMatch(/more than the maximum/);
  });

  it('keeps utilization targets within 100%', () => {
    const errors = validateDeploy(form({ metricsType: 'cpu_utilization', targetValue: '150' }), environments);
    expect(errors.targetValue).toMatch(/percentage/);
    expect(validateDeploy(form({ metricsType: 'rps', targetValue: '150' }), environments)).toEqual({});
  });

  it('refuses an unreachable or unknown environment, saying why', () => {
    expect(validateDeploy(form({ environment: 'staging' }), environments).environment).toMatch(/connection refused/);
    expect(validateDeploy(form({ environment: 'prod' }), environments).environment).toMatch(/Choose/);
  });

  it('sends Merlin\'s logger: on with its mode and share, or off', () => {
    expect(toDeployRequest(form()).logger).toEqual({ model: { enabled: false, mode: 'all' } });
    const on = form({ logRequests: true, logMode: 'response', logSample: '0.1' });
    expect(validateDeploy(on, environments)).toEqual({});
    expect(toDeployRequest(on).logger).toEqual({ model: { enabled: true, mode: 'response', sample_rate: 0.1 } });
    expect(validateDeploy(form({ logRequests: true, logSample: '2' }), environments).logSample).toMatch(/at most 1/);
    const cluster = [environment('prod', { kind: 'kubernetes' })];
    const sampled = { ...form({ logRequests: true, logSample: '0.5' }), environment: 'prod' };
    expect(validateDeploy(sampled, cluster).logSample).toMatch(/sampling works on local only/);
  });

  it("starts a redeploy from the endpoint's logger", () => {
    const e = { ...endpoint('e1', 1), logger: { model: { enabled: true, mode: 'request' as const, sample_rate: 0.25 } } };
    expect(deployFormDefaults(environments[0], e)).toMatchObject({ logRequests: true, logMode: 'request', logSample: '0.25' });
  });

  it('checks environment variable names and duplicates', () => {
    const envVars = [{ name: 'OK_1', value: 'a' }, { name: '1BAD', value: '' }, { name: 'OK_1', value: 'b' }];
    const errors = validateDeploy(form({ envVars }), environments);
    expect(errors['envVars.0']).toBeUndefined();
    expect(errors['envVars.1']).toMatch(/letters, digits/);
    expect(errors['envVars.2']).toMatch(/set twice/);
  });

  it('becomes the API request, leaving empty resources to the server', () => {
    const request = toDeployRequest(form({ cpu: '', memory: '1Gi', envVars: [{ name: 'K', value: 'V' }] }));
    expect(request).toEqual({
      environment_name: 'local',
      resource_request: { min_replica: 1, max_replica: 2, memory_request: '1Gi' },
      env_vars: [{ name: 'K', value: 'V' }],
      deployment_mode: 'serverless',
      autoscaling_policy: { metrics_type: 'concurrency', target_value: 1 },
      protocol: 'HTTP_JSON',
      logger: { model: { enabled: false, mode: 'all' } }
    });
  });
});

describe('traffic form', () => {
  const endpoints = [endpoint('a', 1), endpoint('b', 2, 'serving'), endpoint('c', 3, 'pending')];
  const form = (destinations: [string, string][], mirror = ''): ITrafficForm => ({
    environment: 'local',
    destinations: destinations.map(([endpointId, weight]) => ({ endpointId, weight })),
    mirror
  });

  it('accepts weights that sum to 100 and an optional mirror', () => {
    const f = form([['a', '70'], ['b', '30']]);
    expect(weightTotal(f)).toBe(100);
    expect(validateTraffic(f, endpoints)).toEqual({});
    expect(toTrafficRule(form([['a', '100']], 'b'))).toEqual({
      destinations: [{ version_endpoint_id: 'a', weight: 100 }],
      mirror: { id: 'b' }
    });
    expect(toTrafficRule(f).mirror).toBeUndefined();
  });

  it('says the total when weights do not sum to 100', () => {
    expect(validateTraffic(form([['a', '70'], ['b', '20']]), endpoints).total).toMatch(/add up to 90/);
  });

  it('refuses no destination, duplicates, bad weights and a mirror that is a destination', () => {
    expect(validateTraffic(form([]), endpoints).destinations).toMatch(/at least one/);
    expect(validateTraffic(form([['a', '50'], ['a', '50']]), endpoints)['destinations.1']).toMatch(/already/);
    expect(validateTraffic(form([['a', '50.5'], ['b', '49.5']]), endpoints)['destinations.0']).toMatch(/whole number/);
    expect(validateTraffic(form([['', '100']]), endpoints)['destinations.0']).toMatch(/Choose/);
    expect(validateTraffic(form([['a', '100']], 'a'), endpoints).mirror).toMatch(/must not also/);
  });

  it('refuses endpoints that are not up', () => {
    expect(validateTraffic(form([['c', '100']]), endpoints).status).toMatch(/Version 3's endpoint is pending/);
  });

  it('splits evenly, the first destination taking the remainder', () => {
    expect(evenWeights(0)).toEqual([]);
    expect(evenWeights(1)).toEqual(['100']);
    expect(evenWeights(3)).toEqual(['34', '33', '33']);
  });
});
