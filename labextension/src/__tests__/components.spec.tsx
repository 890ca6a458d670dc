import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { DeployForm } from '../components/DeployForm';
import { notAnswering } from '../components/EndpointDetails';
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

  it('says why the request box cannot send', () => {
    expect(notAnswering(endpoint('a', 1, 'terminated'))).toMatch(/undeployed/);
    expect(notAnswering(endpoint('a', 1, 'failed'))).toMatch(/failed to deploy/);
    expect(notAnswering(endpoint('a', 1, 'pending'))).toMatch(/once it is running/);
  });
});
