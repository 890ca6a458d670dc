import { addIcon, Button, closeIcon, HTMLSelect, InputGroup } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IEnvironment, ITrafficRule, IVersion, IVersionEndpoint } from '../api';
import { evenWeights, ITrafficForm, routable, toTrafficRule, weightTotal } from '../validation';
import { Field, IFormProps, inputProps } from './Field';

export interface ITrafficFormProps extends IFormProps<ITrafficForm> {
  environments: IEnvironment[];
  /** The model's versions with their endpoints (all environments). */
  versions: IVersion[];
  /** Environments that already have a model endpoint: their rule is replaced, not created. */
  existing: string[];
}

/** "v2 · running · 3f2a1b2c": people know versions; the id tells two endpoints apart. */
export function endpointLabel(endpoint: IVersionEndpoint): string {
  return `v${endpoint.version_id} · ${endpoint.status} · ${endpoint.id.slice(0, 8)}`;
}

/** The endpoints of this environment that can take traffic (and any already in the rule). */
export function candidates(props: ITrafficFormProps): IVersionEndpoint[] {
  const inRule = new Set([...props.value.destinations.map(d => d.endpointId), props.value.mirror]);
  return props.versions
    .flatMap(v => v.endpoints)
    .filter(e => e.environment_name === props.value.environment)
    .filter(e => routable(e) || inRule.has(e.id));
}

function DestinationRow(props: ITrafficFormProps & { index: number; options: IVersionEndpoint[] }) {
  const { value, errors, onChange, index } = props;
  const destination = value.destinations[index];
  const id = `merlin-destination-${index}`;
  const error = errors[`destinations.${index}`];
  const set = (patch: Partial<{ endpointId: string; weight: string }>) =>
    onChange({
      ...value,
      destinations: value.destinations.map((d, i) => (i === index ? { ...d, ...patch } : d))
    });
  return (
    <div className="jp-MerlinTraffic-destination">
      <div className="jp-MerlinForm-row">
        <HTMLSelect
          {...inputProps(id, error)}
          aria-label={`Destination ${index + 1}`}
          value={destination.endpointId}
          options={[
            { value: '', label: 'choose an endpoint…' },
            ...props.options.map(e => ({ value: e.id, label: endpointLabel(e) }))
          ]}
          onChange={e => set({ endpointId: e.currentTarget.value })}
        />
        <InputGroup
          className="jp-MerlinTraffic-weight"
          aria-label={`Weight of destination ${index + 1} (percent)`}
          value={destination.weight}
          inputMode="numeric"
          onChange={e => set({ weight: e.currentTarget.value.trim() })}
        />
        <span aria-hidden="true">%</span>
        <Button minimal small aria-label={`Remove destination ${index + 1}`} title="Remove"
          onClick={() => onChange({ ...value, destinations: value.destinations.filter((_, i) => i !== index) })}>
          <closeIcon.react tag="span" />
        </Button>
      </div>
      {error && <div id={`${id}-error`} className="jp-MerlinField-error" role="alert">{error}</div>}
    </div>
  );
}

/** The rule as the API receives it, one destination a line so it fits the dialog. */
export function formatRule(rule: ITrafficRule): string {
  const lines = rule.destinations.map(
    d => `    {"version_endpoint_id": ${JSON.stringify(d.version_endpoint_id)}, "weight": ${d.weight}}`
  );
  const mirror = rule.mirror ? `{"id": ${JSON.stringify(rule.mirror.id)}}` : 'null';
  return ['{', '  "destinations": [', lines.join(',\n'), '  ],', `  "mirror": ${mirror}`, '}']
    .filter(line => line !== '')
    .join('\n');
}

/** The rule in words, "v2 70% · v1 30% · mirror v3", naming endpoints by their version. */
export function summarize(value: ITrafficForm, versions: IVersion[]): string {
  const name = (id: string): string => {
    const endpoint = versions.flatMap(v => v.endpoints).find(e => e.id === id);
    return endpoint ? `v${endpoint.version_id}` : id ? id.slice(0, 8) : '?';
  };
  const parts = value.destinations.map(d => `${name(d.endpointId)} ${d.weight || 0}%`);
  if (value.mirror) {
    parts.push(`mirror ${name(value.mirror)}`);
  }
  return parts.length ? parts.join(' · ') : 'no destination yet';
}

function addDestination(value: ITrafficForm, options: IVersionEndpoint[]): ITrafficForm {
  const used = new Set(value.destinations.map(d => d.endpointId));
  const next = options.find(e => !used.has(e.id) && e.id !== value.mirror);
  const destinations = [...value.destinations, { endpointId: next?.id ?? '', weight: '0' }];
  // A fresh split starts even; people then adjust it.
  const weights = evenWeights(destinations.length);
  return { ...value, destinations: destinations.map((d, i) => ({ ...d, weight: weights[i] })) };
}

/** The model endpoint's rule: weighted destinations summing to 100 and an optional mirror. */
export function TrafficForm(props: ITrafficFormProps): JSX.Element {
  const { value, errors, onChange } = props;
  const options = candidates(props);
  const total = weightTotal(value);
  const replacing = props.existing.includes(value.environment);
  return (
    <div className="jp-MerlinForm jp-MerlinTrafficForm">
      <Field id="merlin-traffic-env" label="Environment"
        hint={replacing ? 'Its current rule is replaced in one step.' : 'A new model endpoint is created.'}>
        <HTMLSelect id="merlin-traffic-env" value={value.environment}
          options={props.environments.map(e => e.name)}
          onChange={e => onChange({ ...value, environment: e.currentTarget.value, destinations: [], mirror: '' })} />
      </Field>
      <fieldset className="jp-MerlinForm-group">
        <legend>Destinations</legend>
        {!options.length && (
          <div className="jp-MerlinField-hint">
            No endpoint of this model is running in {value.environment}: deploy a version first.
          </div>
        )}
        {value.destinations.map((_, index) => (
          <DestinationRow key={index} {...props} index={index} options={options} />
        ))}
        <Button minimal small className="jp-MerlinForm-add" disabled={!options.length}
          onClick={() => onChange(addDestination(value, options))}>
          <addIcon.react tag="span" /> Add destination
        </Button>
        <div className={`jp-MerlinTraffic-total${total === 100 ? ' jp-mod-ok' : ''}`} aria-live="polite">
          Total: {total}%{total === 100 ? ' ✓' : ' (must be 100)'}
        </div>
        {(errors.total || errors.destinations || errors.status) && (
          <div className="jp-MerlinField-error" role="alert">
            {errors.destinations ?? errors.status ?? errors.total}
          </div>
        )}
      </fieldset>
      <Field id="merlin-mirror" label="Mirror (optional)" error={errors.mirror}
        hint="Gets a copy of every request; its answers are ignored.">
        <HTMLSelect {...inputProps('merlin-mirror', errors.mirror)} value={value.mirror}
          options={[{ value: '', label: 'no mirror' }, ...options.map(e => ({ value: e.id, label: endpointLabel(e) }))]}
          onChange={e => onChange({ ...value, mirror: e.currentTarget.value })} />
      </Field>
      <details className="jp-MerlinTraffic-rule">
        <summary>
          Rule to apply: <span className="jp-MerlinTraffic-summary">{summarize(value, props.versions)}</span>
        </summary>
        <pre>{formatRule(toTrafficRule(value))}</pre>
      </details>
    </div>
  );
}
