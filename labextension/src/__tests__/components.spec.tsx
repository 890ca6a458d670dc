import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { DeployForm } from '../components/DeployForm';
import { notAnswering, Requests as RequestsTable, Serving } from '../components/EndpointDetails';
import { StatusBadge } from '../components/StatusBadge';
import { formatRule, TrafficForm } from '../components/TrafficForm';
import { deployFormDefaults, validateDeploy, validateTraffic } from '../validation';
import { endpoint, environment, version } from './fixtures';

const noop = () => undefined;

describe('components', () => {
  it('shows a status badge with its meaning and reason', () => {
    const html = renderToStaticMarkup(<StatusBadge status="failed" message="no module xgboost" />);
    expect(html).toContain('jp-MerlinBadge-failed');
    expect(html).toContain('title="could not be deployed: no module xgboost"');
  });

  it('points at a mistake next to its field in the deploy form', () => {
    const environments = [environment()];
    const value = { ...deployFormDefaults(environments[0]), cpu: 'lots' };
    const html = renderToStaticMarkup(
      <DeployForm value={value} errors={validateDeploy(value, environments)} onChange={noop} environments={environments} />
    );
    expect(html).toMatch(/id="merlin-cpu"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="merlin-cpu"/);
    expect(html).toContain('CPU is a number of cores');
    expect(html).toContain('local (this machine) · default');
  });

  it('shows the traffic total and the rule it will apply', () => {
    const versions = [version(1, [endpoint('aaaaaaaa-1', 1)]), version(2, [endpoint('bbbbbbbb-2', 2), endpoint('cccccccc-3', 2, 'pending')])];
    const value = {
      environment: 'local',
      destinations: [{ endpointId: 'aaaaaaaa-1', weight: '60' }, { endpointId: 'bbbbbbbb-2', weight: '30' }],
      mirror: ''
    };
    const endpoints = versions.flatMap(v => v.endpoints);
    const html = renderToStaticMarkup(
      <TrafficForm value={value} errors={validateTraffic(value, endpoints)} onChange={noop}
        environments={[environment()]} versions={versions} existing={['local']} />
    );
    expect(html).toContain('Total: 90% (must be 100)');
    expect(html).toContain('Rule to apply: <span class="jp-MerlinTraffic-summary">v1 60% · v2 30%</span>');
    expect(html).toContain('The weights add up to 90');
    expect(html).toContain('&quot;version_endpoint_id&quot;: &quot;bbbbbbbb-2&quot;');
    expect(html).toContain('Its current rule is replaced in one step.');
    // A pending endpoint is not offered.
    expect(html).not.toContain('cccccccc');
  });

  it('writes the rule one destination a line', () => {
    expect(formatRule({ destinations: [{ version_endpoint_id: 'a', weight: 70 }, { version_endpoint_id: 'b', weight: 30 }], mirror: { id: 'c' } })).toBe(
      '{\n  "destinations": [\n    {"version_endpoint_id": "a", "weight": 70},\n    {"version_endpoint_id": "b", "weight": 30}\n  ],\n  "mirror": {"id": "c"}\n}'
    );
    expect(JSON.parse(formatRule({ destinations: [] }))).toEqual({ destinations: [], mirror: null });
  });

  it('shows logged requests in the Requests tab, and how to turn logging on', () => {
    const logged = { ...endpoint('a', 1), logger: { model: { enabled: true, mode: 'all' as const, sample_rate: 0.5 } } };
    const rows = [
      { id: 'r2', time: '2026-12-01T14:00:01Z', latency_ms: 3.25, status: 400, version: 1, protocol: 'v1',
        route: 'model_endpoint' as const, request: '{"instances": [[1]]}', response: '{"error": "bad"}' }
    ];
    const html = renderToStaticMarkup(<RequestsTable endpoint={logged} requests={rows} error={null} />);
    expect(html).toContain('logging requests and responses, 50 % of them');
    expect(html).toContain('{&quot;instances&quot;: [[1]]}');
    expect(html).toContain('3.3');
    expect(html).toContain('>model<');
    const off = renderToStaticMarkup(<RequestsTable endpoint={endpoint('b', 2)} requests={[]} error={null} />);
    expect(off).toContain('--log-requests all');
  });

  it('has a request logging switch in the deploy form', () => {
    const on = { ...deployFormDefaults(environment('local')), logRequests: true, logSample: '0.1' };
    const html = renderToStaticMarkup(<DeployForm value={on} errors={{}} onChange={() => undefined} environments={[environment('local')]} />);
    expect(html).toContain('role="switch"');
    expect(html).toContain('value="0.1"');
  });

  it('says why the request box cannot send', () => {
    expect(notAnswering(endpoint('a', 1, 'terminated'))).toMatch(/undeployed/);
    expect(notAnswering(endpoint('a', 1, 'failed'))).toMatch(/failed to deploy/);
    expect(notAnswering(endpoint('a', 1, 'pending'))).toMatch(/once it is running/);
  });

  it('shows a local endpoint scaled to zero, its last wake and what is not enforced', () => {
    const e = {
      ...endpoint('a', 1),
      serving: {
        workers: 0, min_workers: 0, max_workers: 2, scaled_to_zero: true, last_wake: '2026-12-01T15:00:00+00:00',
        unenforced: ['memory_request 512Mi and cpu_request 500m: not enforced here (not root)']
      }
    };
    const html = renderToStaticMarkup(<Serving endpoint={e} />);
    expect(html).toMatch(/Scaled to zero/);
    expect(html).toMatch(/Last woken 2026-12-01T15:00:00/);
    expect(html).toMatch(/Not enforced here: memory_request 512Mi/);
    const awake = renderToStaticMarkup(<Serving endpoint={{ ...e, serving: { ...e.serving, scaled_to_zero: false, workers: 2 } }} />);
    expect(awake).toMatch(/2 workers running \(0–2\)/);
  });
});
