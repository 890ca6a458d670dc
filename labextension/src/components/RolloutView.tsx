import { Button, stopIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IMetricsPoint, IRollout, RolloutAction } from '../api';
import { compareVersions, duration, guardText, isActive, stepText } from '../rollout';
import { MetricsCharts } from './MetricsChart';

export const START_HINT =
  '%merlin rollout v2 --steps 10,50,100 --bake 2m --max-error-rate 1% --max-p99 50ms';

const STATUS_WORDS: Record<IRollout['status'], string> = {
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  rolled_back: 'rolled back',
  aborted: 'aborted'
};

/** Each step's share of the new version, the current one marked. */
function Steps(props: { rollout: IRollout }): JSX.Element {
  const r = props.rollout;
  return (
    <ol className="jp-MerlinRollout-steps" aria-label="Rollout steps">
      {r.steps.map((weight, i) => {
        const state = i < r.step_index ? 'done' : i === r.step_index ? 'current' : 'next';
        return (
          <li key={i} className={`jp-MerlinRollout-stepChip jp-mod-${state}`} aria-current={state === 'current' ? 'step' : undefined}>
            {weight} %
          </li>
        );
      })}
    </ol>
  );
}

/** Old beside new over the current step: what the guard judges. */
function Comparison(props: { rollout: IRollout; points: IMetricsPoint[] }): JSX.Element {
  const r = props.rollout;
  const since = r.step_started_at ? Date.parse(r.step_started_at) : Date.parse(r.created_at ?? '') || 0;
  const rows = compareVersions(props.points, r, since);
  return (
    <table className="jp-MerlinDetails-events jp-MerlinRollout-compare" aria-label="Versions side by side">
      <thead>
        <tr>
          <th>this step</th>
          <th>v{r.old_version} (old, {100 - Math.max(r.weight, 0)} %)</th>
          <th>v{r.new_version} (new, {Math.max(r.weight, 0)} %)</th>
          <th>guard</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(row => (
          <tr key={row.label}>
            <td>{row.label}</td>
            <td>{row.old}</td>
            <td className={row.over ? 'jp-mod-error' : undefined}>{row.new}</td>
            <td>{row.limit}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export interface IRolloutViewProps {
  rollout: IRollout | null;
  points: IMetricsPoint[];
  /** True while an action sent from here waits for its answer (its buttons are disabled). */
  busy?: boolean;
  onAction: (rollout: IRollout, action: RolloutAction) => void;
}

/**
 * The model endpoint's rollout: while one runs, its step, its guard, the two versions' numbers
 * and charts side by side, and Pause/Resume and Abort; after it ended, how it ended.
 */
export function RolloutView(props: IRolloutViewProps): JSX.Element {
  const r = props.rollout;
  if (!r) {
    return (
      <section aria-labelledby="merlin-rollout-heading" className="jp-MerlinRollout">
        <h3 id="merlin-rollout-heading">Rollout</h3>
        <div className="jp-MerlinField-hint">
          No rollout yet. Start a guarded one from a notebook, e.g. <code>{START_HINT}</code>, and follow it here.
        </div>
      </section>
    );
  }
  const active = isActive(r);
  const since = Date.parse(r.created_at ?? '') || 0;
  const points = props.points.filter(
    p => Date.parse(p.time) >= since && (p.version === r.old_version || p.version === r.new_version)
  );
  return (
    <section aria-labelledby="merlin-rollout-heading" className={`jp-MerlinRollout${active ? ' jp-mod-active' : ''}`}>
      <h3 id="merlin-rollout-heading">
        Rollout {r.id}: v{r.new_version} replaces v{r.old_version}{' '}
        <span className={`jp-MerlinRollout-status jp-mod-${r.status}`} data-status={r.status}>{STATUS_WORDS[r.status]}</span>
      </h3>
      {active ? (
        <>
          <Steps rollout={r} />
          <div className="jp-MerlinRollout-step" role="status" aria-label="Current step">{stepText(r)}</div>
          <div className="jp-MerlinField-hint">
            {duration(r.bake_seconds)} bake per step · rolls back by itself when v{r.new_version} breaks{' '}
            {guardText(r.guard)} and is worse than v{r.old_version}
            {r.step_started_at && ` · this step began ${new Date(r.step_started_at).toLocaleTimeString()}`}
            {r.status === 'paused' && ' · paused: the step holds, the guard still watches'}
          </div>
          <div className="jp-MerlinRollout-actions">
            {r.status === 'running' ? (
              <Button disabled={props.busy} onClick={() => props.onAction(r, 'pause')}>Pause</Button>
            ) : (
              <Button disabled={props.busy} onClick={() => props.onAction(r, 'resume')}>Resume</Button>
            )}
            <Button className="jp-mod-warn" disabled={props.busy} onClick={() => props.onAction(r, 'abort')}>
              <stopIcon.react tag="span" /> Abort
            </Button>
          </div>
          <Comparison rollout={r} points={props.points} />
          <MetricsCharts points={points} label="Both versions since the rollout began"
            limits={{ error_rate: r.guard.error_rate, p99_ms: r.guard.p99_ms }} width={260} />
        </>
      ) : (
        <div className={r.status === 'rolled_back' ? 'jp-MerlinPanel-error' : 'jp-MerlinDetails-message'} role="status">
          {r.message ?? STATUS_WORDS[r.status]}
          {r.created_at && ` (started ${new Date(r.created_at).toLocaleString()})`}
        </div>
      )}
    </section>
  );
}
