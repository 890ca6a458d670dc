import { addIcon, Button, deleteIcon, HTMLSelect, InputGroup } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ALERT_METRICS, AlertMetric, IAlert } from '../api';
import { ALERT_KINDS, alertValue, describeAlert, IAlertForm } from '../alertForm';
import { Field, IFormProps, inputProps } from './Field';

/** The new-alert dialog: Merlin's kinds, a threshold in the kind's unit, and how long it holds. */
export function AlertForm(props: IFormProps<IAlertForm>): JSX.Element {
  const { value, errors, onChange } = props;
  const kind = ALERT_KINDS[value.metric];
  return (
    <div className="jp-MerlinForm">
      <Field id="merlin-alert-metric" label="Metric">
        <HTMLSelect id="merlin-alert-metric" value={value.metric}
          options={ALERT_METRICS.map(m => ({ value: m, label: ALERT_KINDS[m].label }))}
          onChange={e => onChange({ ...value, metric: e.currentTarget.value as AlertMetric })} />
      </Field>
      {value.metric === 'latency' && (
        <Field id="merlin-alert-percentile" label="Percentile">
          <HTMLSelect id="merlin-alert-percentile" value={value.percentile}
            options={['50', '95', '99'].map(p => ({ value: p, label: `p${p}` }))}
            onChange={e => onChange({ ...value, percentile: e.currentTarget.value as IAlertForm['percentile'] })} />
        </Field>
      )}
      <Field id="merlin-alert-threshold" label={`Fires ${kind.below ? 'below' : 'above'} (${kind.unit})`}
        error={errors.threshold}
        hint={kind.below ? 'Fires when the model endpoint receives fewer requests than this.' : undefined}>
        <InputGroup {...inputProps('merlin-alert-threshold', errors.threshold)} value={value.threshold}
          inputMode="decimal" onChange={e => onChange({ ...value, threshold: e.currentTarget.value.trim() })} />
      </Field>
      <Field id="merlin-alert-duration" label="For at least" error={errors.duration}
        hint="How long the value must hold before the alert fires, e.g. 90s or 5m.">
        <InputGroup {...inputProps('merlin-alert-duration', errors.duration)} value={value.duration}
          onChange={e => onChange({ ...value, duration: e.currentTarget.value.trim() })} />
      </Field>
      <Field id="merlin-alert-severity" label="Severity">
        <HTMLSelect id="merlin-alert-severity" value={value.severity} options={['WARNING', 'CRITICAL']}
          onChange={e => onChange({ ...value, severity: e.currentTarget.value as IAlertForm['severity'] })} />
      </Field>
    </div>
  );
}

export interface IAlertsProps {
  alerts: IAlert[];
  onCreate: () => void;
  onDelete: (alert: IAlert) => void;
}

/** The model endpoint's alerts with their state now; new ones and deleting from here. */
export function Alerts(props: IAlertsProps): JSX.Element {
  return (
    <section aria-labelledby="merlin-alerts-heading" className="jp-MerlinAlerts">
      <div className="jp-MerlinAlerts-header">
        <h3 id="merlin-alerts-heading">Alerts</h3>
        <Button minimal small onClick={props.onCreate}>
          <addIcon.react tag="span" /> New alert
        </Button>
      </div>
      {props.alerts.length ? (
        <table className="jp-MerlinDetails-events" aria-label="Alerts">
          <thead><tr><th>fires when</th><th>severity</th><th>now</th><th /></tr></thead>
          <tbody>
            {props.alerts.map(a => {
              const what = describeAlert(a);
              return (
                <tr key={a.id} className={a.state === 'firing' ? 'jp-mod-error' : undefined} data-alert-id={a.id}>
                  <td>{what}</td>
                  <td>{a.severity}</td>
                  <td>
                    {a.state === 'firing' ? 'firing' : 'ok'}
                    {a.value !== null && ` · ${alertValue(a.metric, a.value)}`}
                  </td>
                  <td>
                    <Button minimal small aria-label={`Delete alert: ${what}`} title="Delete"
                      onClick={() => props.onDelete(a)}>
                      <deleteIcon.react tag="span" />
                    </Button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : (
        <div className="jp-MerlinField-hint">
          No alerts. A firing or resolved alert shows up as a notification and in <code>%merlin status</code>.
        </div>
      )}
    </section>
  );
}
