/**
 * The new-alert dialog's rules, repeating the server's (services/alerts.py) so a mistake is
 * pointed at next to its field; and how an alert is said in words. Pure, tested without a DOM.
 */
import { AlertMetric, AlertSeverity, IAlert, IAlertRequest } from './api';
import { FormErrors } from './validation';

/** The dialog's inputs as typed. The error rate is typed in percent, the API takes 0 to 1. */
export interface IAlertForm {
  metric: AlertMetric;
  percentile: '50' | '95' | '99';
  threshold: string;
  duration: string;
  severity: AlertSeverity;
}

/** Each kind: its name, the unit its threshold is typed in, and whether it fires below it. */
export const ALERT_KINDS: Record<AlertMetric, { label: string; unit: string; below: boolean }> = {
  throughput: { label: 'Throughput', unit: 'requests/s', below: true },
  latency: { label: 'Latency percentile', unit: 'ms', below: false },
  error_rate: { label: 'Error rate', unit: '%', below: false },
  cpu: { label: 'CPU', unit: 'cores', below: false },
  memory: { label: 'Memory', unit: 'MiB', below: false }
};

export const alertFormDefaults = (): IAlertForm => ({
  metric: 'error_rate',
  percentile: '99',
  threshold: '',
  duration: '1m',
  severity: 'WARNING'
});

const NUMBER = /^[0-9]+(\.[0-9]+)?$/;
// The server's durations: a whole number and s, m, h or d (services/metrics_history.py).
const DURATION = /^[1-9][0-9]{0,5}(s|m|h|d)?$/;

export function validateAlert(form: IAlertForm): FormErrors {
  const errors: FormErrors = {};
  const kind = ALERT_KINDS[form.metric];
  if (!NUMBER.test(form.threshold)) {
    errors.threshold = `The threshold is a number of ${kind.unit} of at least 0, e.g. ${example(form.metric)}.`;
  } else if (form.metric === 'error_rate' && Number(form.threshold) > 100) {
    errors.threshold = 'An error rate is at most 100 %.';
  }
  if (!DURATION.test(form.duration)) {
    errors.duration = 'How long the value must hold before the alert fires: a whole number and s, m, h or d, e.g. 90s or 5m.';
  }
  return errors;
}

function example(metric: AlertMetric): string {
  return { throughput: '1', latency: '250', error_rate: '5', cpu: '1.5', memory: '512' }[metric];
}

export function toAlertRequest(form: IAlertForm): IAlertRequest {
  const threshold = Number(form.threshold);
  const request: IAlertRequest = {
    metric: form.metric,
    threshold: form.metric === 'error_rate' ? threshold / 100 : threshold,
    duration: form.duration,
    severity: form.severity
  };
  if (form.metric === 'latency') {
    request.percentile = Number(form.percentile) as 50 | 95 | 99;
  }
  return request;
}

function seconds(duration: number): string {
  if (duration % 3600 === 0) {
    return `${duration / 3600} h`;
  }
  return duration % 60 === 0 ? `${duration / 60} min` : `${duration} s`;
}

/** A value of the alert's metric in its unit, e.g. "2.5 %" or "120 ms". */
export function alertValue(metric: AlertMetric, value: number): string {
  const unit = ALERT_KINDS[metric].unit;
  if (metric === 'error_rate') {
    return `${+(value * 100).toFixed(2)} %`;
  }
  return `${+value.toFixed(2)} ${unit}`;
}

/** "p95 latency above 250 ms for 30 s", "throughput below 1 requests/s for 1 min". */
export function describeAlert(alert: Pick<IAlert, 'metric' | 'percentile' | 'threshold' | 'duration_seconds'>): string {
  const kind = ALERT_KINDS[alert.metric];
  const name = alert.metric === 'latency' ? `p${alert.percentile ?? 99} latency` : kind.label.toLowerCase();
  return `${name} ${kind.below ? 'below' : 'above'} ${alertValue(alert.metric, alert.threshold)} for ${seconds(alert.duration_seconds)}`;
}
