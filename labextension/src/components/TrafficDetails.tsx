import * as React from 'react';

import { IAlert, IMetricsPoint, IModelEndpoint, IRollout, IVersion, RolloutAction } from '../api';
import { Alerts } from './Alerts';
import { MetricsCharts } from './MetricsChart';
import { RolloutView } from './RolloutView';
import { StatusBadge } from './StatusBadge';

export interface ITrafficDetailsProps {
  title: string;
  modelEndpoint: IModelEndpoint | null;
  versions: IVersion[];
  rollout: IRollout | null;
  metrics: IMetricsPoint[];
  alerts: IAlert[];
  error: string | null;
  busy?: boolean;
  onRolloutAction: (rollout: IRollout, action: RolloutAction) => void;
  onCreateAlert: () => void;
  onDeleteAlert: (alert: IAlert) => void;
}

/** The rule's destinations as rows: version, endpoint and its share, drawn as a bar. */
export function RuleTable(props: { modelEndpoint: IModelEndpoint; versions: IVersion[] }): JSX.Element {
  const endpoints = props.versions.flatMap(v => v.endpoints);
  const name = (id: string) => {
    const e = endpoints.find(x => x.id === id);
    return e ? `v${e.version_id}` : id.slice(0, 8);
  };
  const { destinations, mirror } = props.modelEndpoint.rule;
  return (
    <table className="jp-MerlinDetails-events jp-MerlinRule" aria-label="Traffic rule">
      <thead><tr><th>version</th><th>endpoint</th><th>share</th></tr></thead>
      <tbody>
        {destinations.map(d => (
          <tr key={d.version_endpoint_id}>
            <td>{name(d.version_endpoint_id)}</td>
            <td title={d.version_endpoint_id}><code>{d.version_endpoint_id.slice(0, 8)}</code></td>
            <td>
              <span className="jp-MerlinRule-bar" style={{ width: `${d.weight * 0.8}px` }} aria-hidden="true" />
              {d.weight} %
            </td>
          </tr>
        ))}
        {mirror?.id && (
          <tr>
            <td>{name(mirror.id)}</td>
            <td title={mirror.id}><code>{mirror.id.slice(0, 8)}</code></td>
            <td>mirror (a copy of each request)</td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

/** A model endpoint's tab: its rule with each version's traffic beside it, its rollout, its alerts. */
export function TrafficDetails(props: ITrafficDetailsProps): JSX.Element {
  const me = props.modelEndpoint;
  return (
    <div className="jp-MerlinDetails jp-MerlinTrafficDetails">
      <header className="jp-MerlinDetails-header">
        {me && <StatusBadge status={me.status} />}
        <h2>{props.title}</h2>
        {me && <span className="jp-MerlinTree-meta">model endpoint {me.id}</span>}
      </header>
      {props.error && <div className="jp-MerlinPanel-error" role="alert">{props.error}</div>}
      {me && (
        <>
          <div className="jp-MerlinTraffic-overview">
            <section aria-labelledby="merlin-rule-heading" className="jp-MerlinTraffic-ruleView">
              <h3 id="merlin-rule-heading">Traffic rule</h3>
              {me.url && <div className="jp-MerlinDetails-url"><code>{me.url}</code></div>}
              <RuleTable modelEndpoint={me} versions={props.versions} />
            </section>
            <MetricsCharts points={props.metrics} label="Each version's traffic, last 15 minutes" width={260} />
          </div>
          <RolloutView rollout={props.rollout} points={props.metrics} busy={props.busy} onAction={props.onRolloutAction} />
          <Alerts alerts={props.alerts} onCreate={props.onCreateAlert} onDelete={props.onDeleteAlert} />
        </>
      )}
    </div>
  );
}
