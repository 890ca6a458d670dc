import { answered, chartData, MIN_SPAN, xRange, yRange } from '../components/MetricsChart';

describe('chartData', () => {
  it('aligns each version on one time axis, with gaps where a version has no point', () => {
    const point = (time: string, version: number, rps: number) => ({
      time, version, rps, requests: 1, error_rate: 0, p50_ms: 1, p95_ms: 2, p99_ms: 3
    });
    const { versions, data } = chartData(
      [point('2026-12-01T10:00:02Z', 2, 5), point('2026-12-01T10:00:01Z', 1, 3), point('2026-12-01T10:00:02Z', 1, 4)],
      'rps'
    );
    expect(versions).toEqual([1, 2]);
    expect(data[0]).toEqual([Date.parse('2026-12-01T10:00:01Z') / 1000, Date.parse('2026-12-01T10:00:02Z') / 1000]);
    expect(data[1]).toEqual([3, 4]);
    expect(data[2]).toEqual([null, 5]);
  });
});

import { newNotable } from '../alertNotifications';

describe('newNotable', () => {
  const event = (id: number, action: string) => ({
    id, action, actor: 'alerts', entity_type: 'model_endpoint', entity_id: '1', message: `m${id}`, created_at: ''
  });
  it('keeps alert and rollout decisions newer than the last look, oldest first', () => {
    const { notable, newest } = newNotable(
      [event(9, 'alert_resolved'), event(8, 'update_traffic'), event(7, 'alert_firing'), event(5, 'alert_firing')], 6);
    expect(notable.map(e => e.id)).toEqual([7, 9]);
    expect(newest).toBe(9);
  });
});

describe('chart scales', () => {
  it('spans at least a minute, and starts its y axis at 0 on a readable scale', () => {
    expect(xRange(100, 101)).toEqual([101 - MIN_SPAN, 101]);
    expect(xRange(0, 600)).toEqual([0, 600]);
    expect(yRange('error_rate', 0)).toEqual([0, 0.1]);
    expect(yRange('rps', 40)).toEqual([0, 44]);
  });

  it('names the versions that answered requests', () => {
    const p = (version: number, requests: number) => ({
      time: '2026-12-01T10:00:00Z', version, rps: 0, requests, error_rate: null, p50_ms: null, p95_ms: null, p99_ms: null
    });
    expect(answered([p(2, 3), p(1, 0), p(3, 1)])).toEqual([2, 3]);
  });
});
