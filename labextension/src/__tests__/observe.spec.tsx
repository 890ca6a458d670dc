import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { alertFormDefaults, describeAlert, toAlertRequest, validateAlert } from '../alertForm';
import { IMetricsPoint, IRollout } from '../api';
import { Alerts } from '../components/Alerts';
import { RolloutView } from '../components/RolloutView';
import { TrafficDetails } from '../components/TrafficDetails';
import { compareVersions, guardText, stepText } from '../rollout';
import { endpoint, modelEndpoint, version } from './fixtures';

const noop = () => undefined;

const rollout = (extra: Partial<IRollout> = {}): IRollout => ({
  id: 3, model_id: 10, model_endpoint_id: 1, new_version: 2, old_version: 1, steps: [10, 50, 100],
  bake_seconds: 120, guard: { error_rate: 0.01, p99_ms: 50 }, status: 'running', step_index: 1, weight: 50,
  step_started_at: '2026-12-01T10:00:00Z', message: null, created_at: '2026-12-01T09:58:00Z', ...extra
});

const point = (time: string, version: number, requests: number, errorRate: number, p99: number): IMetricsPoint => ({
  time, version, rps: requests, requests, error_rate: errorRate, p50_ms: 1, p95_ms: 2, p99_ms: p99
});

describe('alert form', () => {
  it('points at a threshold or duration the server would refuse', () => {
    const form = { ...alertFormDefaults(), threshold: 'many', duration: '5 minutes' };
    const errors = validateAlert(form);
    expect(errors.threshold).toMatch(/number of % of at least 0, e.g. 5/);
    expect(errors.duration).toMatch(/90s or 5m/);
    expect(validateAlert({ ...form, threshold: '120', duration: '5m' }).threshold).toMatch(/at most 100 %/);
    expect(validateAlert({ ...form, threshold: '5', duration: '5m' })).toEqual({});
  });

  it('sends the error rate as a share and a percentile only for latency', () => {
    expect(toAlertRequest({ ...alertFormDefaults(), threshold: '5' })).toEqual(
      { metric: 'error_rate', threshold: 0.05, duration: '1m', severity: 'WARNING' });
    expect(toAlertRequest({ metric: 'latency', percentile: '95', threshold: '250', duration: '30s', severity: 'CRITICAL' }))
      .toEqual({ metric: 'latency', percentile: 95, threshold: 250, duration: '30s', severity: 'CRITICAL' });
  });

  it('says an alert in words, in its unit', () => {
    expect(describeAlert({ metric: 'latency', percentile: 95, threshold: 250, duration_seconds: 30 }))
      .toBe('p95 latency above 250 ms for 30 s');
    expect(describeAlert({ metric: 'throughput', percentile: null, threshold: 1, duration_seconds: 60 }))
      .toBe('throughput below 1 requests/s for 1 min');
    expect(describeAlert({ metric: 'error_rate', percentile: null, threshold: 0.05, duration_seconds: 120 }))
      .toBe('error rate above 5 % for 2 min');
  });
});

describe('rollout', () => {
  it('says its step and its guard', () => {
    expect(stepText(rollout())).toBe('step 2 of 3: v2 gets 50 %, v1 50 %');
    expect(stepText(rollout({ step_index: -1, weight: 0 }))).toMatch(/first 10 %/);
    expect(guardText({ error_rate: 0.01, p99_ms: 50 })).toBe('error rate ≤ 1 %, p99 ≤ 50 ms');
  });

  it('compares the versions over the current step only, and marks the new one over a limit', () => {
    const points = [
      point('2026-12-01T09:59:00Z', 2, 100, 0.5, 900), // before this step: left out
      point('2026-12-01T10:00:05Z', 1, 30, 0, 10),
      point('2026-12-01T10:00:05Z', 2, 10, 0.1, 80),
      point('2026-12-01T10:00:10Z', 2, 30, 0, 20)
    ];
    const rows = compareVersions(points, rollout(), Date.parse('2026-12-01T10:00:00Z'));
    const byLabel = Object.fromEntries(rows.map(r => [r.label, r]));
    expect(byLabel.requests).toMatchObject({ old: '30', new: '40' });
    expect(byLabel['error rate']).toMatchObject({ old: '0 %', new: '2.5 %', limit: '≤ 1 %', over: true });
    expect(byLabel['p99 (worst step)']).toMatchObject({ old: '10 ms', new: '80 ms', limit: '≤ 50 ms', over: true });
  });

  it('shows the step, both versions and pause and abort while it runs', () => {
    const html = renderToStaticMarkup(<RolloutView rollout={rollout()} points={[]} onAction={noop} />);
    expect(html).toContain('Rollout 3: v2 replaces v1');
    expect(html).toContain('aria-current="step">50 %');
    expect(html).toContain('v1 (old, 50 %)');
    expect(html).toContain('>Pause<');
    expect(html).toContain('Abort');
    expect(html).toContain('Both versions since the rollout began');
    const paused = renderToStaticMarkup(<RolloutView rollout={rollout({ status: 'paused' })} points={[]} onAction={noop} />);
    expect(paused).toContain('>Resume<');
  });

  it('says how it ended, without buttons, and how to start one when there is none', () => {
    const done = renderToStaticMarkup(<RolloutView onAction={noop} points={[]}
      rollout={rollout({ status: 'rolled_back', message: 'rolled back: error rate 0.2 > 0.01' })} />);
    expect(done).toContain('rolled back: error rate 0.2 &gt; 0.01');
    expect(done).not.toContain('Abort');
    expect(renderToStaticMarkup(<RolloutView rollout={null} points={[]} onAction={noop} />)).toContain('%merlin rollout v2');
  });
});

describe('traffic details', () => {
  it('shows the rule by version beside the charts, and the alerts with their state', () => {
    const versions = [version(1, [endpoint('aaaaaaaa-1', 1)]), version(2, [endpoint('bbbbbbbb-2', 2)])];
    const me = modelEndpoint(1, { destinations: [{ version_endpoint_id: 'aaaaaaaa-1', weight: 70 }, { version_endpoint_id: 'bbbbbbbb-2', weight: 30 }] });
    const alert = { id: 4, model_id: 10, model_endpoint_id: 1, metric: 'error_rate' as const, percentile: null, threshold: 0.05,
      duration_seconds: 60, severity: 'WARNING' as const, state: 'firing' as const, value: 0.2, fired_at: null };
    const html = renderToStaticMarkup(
      <TrafficDetails title="t" modelEndpoint={me} versions={versions} rollout={null} metrics={[]} alerts={[alert]}
        error={null} onRolloutAction={noop} onCreateAlert={noop} onDeleteAlert={noop} />);
    expect(html).toMatch(/<td>v1<\/td>.*70 %.*<td>v2<\/td>.*30 %/);
    expect(html).toContain('Each version&#x27;s traffic, last 15 minutes');
    expect(html).toContain('error rate above 5 % for 1 min');
    expect(html).toContain('firing · 20 %');
    expect(html).toContain('aria-label="Delete alert: error rate above 5 % for 1 min"');
    expect(renderToStaticMarkup(<Alerts alerts={[]} onCreate={noop} onDelete={noop} />)).toContain('No alerts.');
  });
});
