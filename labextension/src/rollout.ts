/**
 * A guarded rollout in words and numbers: its step, its guard, and the two versions' metrics
 * side by side over the current step (what the guard judges). Pure, tested without a DOM.
 */
import { IMetricsPoint, IRollout } from './api';

export const isActive = (rollout: IRollout | null | undefined): boolean =>
  rollout?.status === 'running' || rollout?.status === 'paused';

/** "step 1 of 3: v2 gets 10 %", or that its first step is being applied. */
export function stepText(rollout: IRollout): string {
  if (rollout.step_index < 0) {
    return `starting: v${rollout.new_version} gets its first ${rollout.steps[0]} % in a moment`;
  }
  return `step ${rollout.step_index + 1} of ${rollout.steps.length}: v${rollout.new_version} gets ${rollout.weight} %, v${rollout.old_version} ${100 - rollout.weight} %`;
}

const GUARD_NAMES: Record<string, string> = {
  error_rate: 'error rate',
  p50_ms: 'p50',
  p95_ms: 'p95',
  p99_ms: 'p99'
};

/** "error rate ≤ 1 %, p99 ≤ 50 ms". */
export function guardText(guard: IRollout['guard']): string {
  return Object.entries(guard)
    .map(([name, limit]) => `${GUARD_NAMES[name] ?? name} ≤ ${name === 'error_rate' ? `${+(limit! * 100).toFixed(2)} %` : `${limit} ms`}`)
    .join(', ');
}

export function duration(seconds: number): string {
  if (seconds >= 60 && seconds % 60 === 0) {
    return `${seconds / 60} min`;
  }
  return `${+seconds.toFixed(1)} s`;
}

/** One metric of both versions over a window, and the guard's limit when it has one. */
export interface IComparison {
  label: string;
  old: string;
  new: string;
  limit: string;
  /** The new version is over the limit (the guard also needs it worse than the old one). */
  over: boolean;
}

interface ITotals {
  requests: number;
  rps: number | null;
  errorRate: number | null;
  p99: number | null;
  p95: number | null;
  p50: number | null;
}

function totals(points: IMetricsPoint[]): ITotals {
  const requests = points.reduce((sum, p) => sum + (p.requests ?? 0), 0);
  const rps = points.filter(p => p.rps !== null);
  const errors = points.reduce((sum, p) => sum + (p.error_rate ?? 0) * (p.requests ?? 0), 0);
  // Percentiles of steps cannot be merged exactly: the worst step is what a guard would mind.
  const worst = (field: 'p50_ms' | 'p95_ms' | 'p99_ms') => {
    const values = points.map(p => p[field]).filter((v): v is number => v !== null && v !== undefined);
    return values.length ? Math.max(...values) : null;
  };
  return {
    requests,
    rps: rps.length ? rps.reduce((sum, p) => sum + p.rps!, 0) / rps.length : null,
    errorRate: requests ? errors / requests : null,
    p99: worst('p99_ms'),
    p95: worst('p95_ms'),
    p50: worst('p50_ms')
  };
}

const fixed = (value: number | null, digits: number, unit = '') =>
  value === null ? '–' : `${+value.toFixed(digits)}${unit}`;

/** The versions' numbers since `since` (unix ms), old beside new. */
export function compareVersions(points: IMetricsPoint[], rollout: IRollout, since: number): IComparison[] {
  const window = points.filter(p => Date.parse(p.time) >= since);
  const old = totals(window.filter(p => p.version === rollout.old_version));
  const neu = totals(window.filter(p => p.version === rollout.new_version));
  const guard = rollout.guard;
  const row = (label: string, o: number | null, n: number | null, format: (v: number | null) => string,
               limit?: number, shown?: (v: number) => string): IComparison => ({
    label,
    old: format(o),
    new: format(n),
    limit: limit === undefined ? '' : `≤ ${shown ? shown(limit) : limit}`,
    over: limit !== undefined && n !== null && n > limit
  });
  const percent = (v: number | null) => fixed(v === null ? null : v * 100, 2, ' %');
  const ms = (v: number | null) => fixed(v, 1, ' ms');
  const rows = [
    row('requests', old.requests, neu.requests, v => fixed(v, 0)),
    row('requests/s', old.rps, neu.rps, v => fixed(v, 2)),
    row('error rate', old.errorRate, neu.errorRate, percent, guard.error_rate, v => percent(v))
  ];
  for (const [field, key] of [['p50', 'p50_ms'], ['p95', 'p95_ms']] as const) {
    if (guard[key] !== undefined) {
      rows.push(row(`${field} (worst step)`, old[field], neu[field], ms, guard[key], v => ms(v)));
    }
  }
  rows.push(row('p99 (worst step)', old.p99, neu.p99, ms, guard.p99_ms, v => ms(v)));
  return rows;
}
