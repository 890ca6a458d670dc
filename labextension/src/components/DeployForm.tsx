import { addIcon, Button, closeIcon, HTMLSelect, InputGroup } from '@jupyterlab/ui-components';
import * as React from 'react';

import {
  DEPLOYMENT_MODES,
  DeploymentMode,
  IEnvironment,
  LOGGER_MODES,
  LoggerMode,
  METRICS_TYPES,
  MetricsType
} from '../api';
import { IDeployForm } from '../validation';
import { Field, IFormProps, inputProps } from './Field';

export interface IDeployFormProps extends IFormProps<IDeployForm> {
  environments: IEnvironment[];
  /** A redeploy keeps its environment: an endpoint does not move between clusters. */
  fixedEnvironment?: boolean;
}

const METRIC_LABELS: Record<MetricsType, string> = {
  concurrency: 'concurrency (requests in flight)',
  rps: 'rps (requests per second)',
  cpu_utilization: 'CPU utilization (%)',
  memory_utilization: 'memory utilization (%)'
};

function environmentLabel(e: IEnvironment): string {
  const where = e.kind === 'local' ? 'this machine' : e.cluster;
  const state = e.reachable === false ? ', unreachable' : '';
  return `${e.name} (${where}${state})${e.is_default ? ' · default' : ''}`;
}

function TextInput(props: {
  id: string;
  value: string;
  error?: string;
  placeholder?: string;
  inputMode?: 'numeric' | 'decimal' | 'text';
  onChange: (text: string) => void;
}): JSX.Element {
  return (
    <InputGroup
      {...inputProps(props.id, props.error)}
      value={props.value}
      placeholder={props.placeholder}
      inputMode={props.inputMode}
      spellCheck={false}
      onChange={e => props.onChange(e.currentTarget.value.trim())}
    />
  );
}

function ResourceFields(props: IDeployFormProps): JSX.Element {
  const { value, errors, onChange } = props;
  const set = (patch: Partial<IDeployForm>) => onChange({ ...value, ...patch });
  return (
    <>
      <div className="jp-MerlinForm-row">
        <Field id="merlin-min-replica" label="Min replicas" error={errors.minReplica}
          hint="locally: worker processes; 0 scales to zero when idle">
          <TextInput id="merlin-min-replica" value={value.minReplica} error={errors.minReplica}
            inputMode="numeric" onChange={minReplica => set({ minReplica })} />
        </Field>
        <Field id="merlin-max-replica" label="Max replicas" error={errors.maxReplica}>
          <TextInput id="merlin-max-replica" value={value.maxReplica} error={errors.maxReplica}
            inputMode="numeric" onChange={maxReplica => set({ maxReplica })} />
        </Field>
      </div>
      <div className="jp-MerlinForm-row">
        <Field id="merlin-cpu" label="CPU" error={errors.cpu} hint="cores, e.g. 500m or 2">
          <TextInput id="merlin-cpu" value={value.cpu} error={errors.cpu} placeholder="default"
            onChange={cpu => set({ cpu })} />
        </Field>
        <Field id="merlin-memory" label="Memory" error={errors.memory} hint="e.g. 512Mi or 2Gi">
          <TextInput id="merlin-memory" value={value.memory} error={errors.memory}
            placeholder="default" onChange={memory => set({ memory })} />
        </Field>
      </div>
    </>
  );
}

function AutoscalingFields(props: IDeployFormProps): JSX.Element {
  const { value, errors, onChange } = props;
  return (
    <div className="jp-MerlinForm-row">
      <Field id="merlin-metric" label="Autoscaling on">
        <HTMLSelect
          id="merlin-metric"
          value={value.metricsType}
          options={METRICS_TYPES.map(m => ({ value: m, label: METRIC_LABELS[m] }))}
          onChange={e => onChange({ ...value, metricsType: e.currentTarget.value as MetricsType })}
        />
      </Field>
      <Field id="merlin-target" label="Target" error={errors.targetValue}>
        <TextInput id="merlin-target" value={value.targetValue} error={errors.targetValue}
          inputMode="decimal" onChange={targetValue => onChange({ ...value, targetValue })} />
      </Field>
    </div>
  );
}

function EnvVarFields(props: IDeployFormProps): JSX.Element {
  const { value, errors, onChange } = props;
  const setVar = (index: number, patch: Partial<{ name: string; value: string }>) =>
    onChange({
      ...value,
      envVars: value.envVars.map((v, i) => (i === index ? { ...v, ...patch } : v))
    });
  return (
    <fieldset className="jp-MerlinForm-group">
      <legend>Environment variables</legend>
      {value.envVars.map((variable, index) => {
        const id = `merlin-env-${index}`;
        const error = errors[`envVars.${index}`];
        return (
          <div key={index} className="jp-MerlinForm-envVar">
            <div className="jp-MerlinForm-row">
              <InputGroup {...inputProps(id, error)} aria-label={`Variable ${index + 1} name`}
                value={variable.name} placeholder="NAME" spellCheck={false}
                onChange={e => setVar(index, { name: e.currentTarget.value.trim() })} />
              <InputGroup aria-label={`Variable ${index + 1} value`} value={variable.value}
                placeholder="value" spellCheck={false}
                onChange={e => setVar(index, { value: e.currentTarget.value })} />
              <Button minimal small title={`Remove variable ${index + 1}`}
                aria-label={`Remove variable ${index + 1}`}
                onClick={() => onChange({ ...value, envVars: value.envVars.filter((_, i) => i !== index) })}>
                <closeIcon.react tag="span" />
              </Button>
            </div>
            {error && <div id={`${id}-error`} className="jp-MerlinField-error" role="alert">{error}</div>}
          </div>
        );
      })}
      <Button minimal small className="jp-MerlinForm-add"
        onClick={() => onChange({ ...value, envVars: [...value.envVars, { name: '', value: '' }] })}>
        <addIcon.react tag="span" /> Add variable
      </Button>
    </fieldset>
  );
}

const LOGGER_LABELS: Record<LoggerMode, string> = {
  all: 'requests and responses',
  request: 'requests only',
  response: 'responses only'
};

/** Merlin's logger: a switch, then what to log and which share of the requests. */
function LoggerFields(props: IDeployFormProps): JSX.Element {
  const { value, errors, onChange } = props;
  return (
    <fieldset className="jp-MerlinForm-group">
      <legend>Request logging</legend>
      <label className="jp-MerlinForm-switch">
        <input
          id="merlin-log-requests"
          type="checkbox"
          role="switch"
          aria-checked={value.logRequests}
          checked={value.logRequests}
          onChange={e => onChange({ ...value, logRequests: e.currentTarget.checked })}
        />
        Log requests and responses (the endpoint details show them)
      </label>
      {value.logRequests && (
        <div className="jp-MerlinForm-row">
          <Field id="merlin-log-mode" label="Log">
            <HTMLSelect
              id="merlin-log-mode"
              value={value.logMode}
              options={LOGGER_MODES.map(m => ({ value: m, label: LOGGER_LABELS[m] }))}
              onChange={e => onChange({ ...value, logMode: e.currentTarget.value as LoggerMode })}
            />
          </Field>
          <Field id="merlin-log-sample" label="Share logged" error={errors.logSample}
            hint="1 logs every request, 0.1 one in ten">
            <TextInput id="merlin-log-sample" value={value.logSample} error={errors.logSample}
              inputMode="decimal" onChange={logSample => onChange({ ...value, logSample })} />
          </Field>
        </div>
      )}
    </fieldset>
  );
}

/** The deploy and redeploy form: where, how big, how it scales, with what environment. */
export function DeployForm(props: IDeployFormProps): JSX.Element {
  const { value, errors, onChange, environments } = props;
  return (
    <div className="jp-MerlinForm jp-MerlinDeployForm">
      <div className="jp-MerlinForm-row">
        <Field id="merlin-environment" label="Environment" error={errors.environment}>
          <HTMLSelect
            {...inputProps('merlin-environment', errors.environment)}
            value={value.environment}
            disabled={props.fixedEnvironment}
            options={environments.map(e => ({ value: e.name, label: environmentLabel(e) }))}
            onChange={e => onChange({ ...value, environment: e.currentTarget.value })}
          />
        </Field>
        <Field id="merlin-mode" label="Deployment mode">
          <HTMLSelect
            id="merlin-mode"
            value={value.deploymentMode}
            options={DEPLOYMENT_MODES}
            onChange={e => onChange({ ...value, deploymentMode: e.currentTarget.value as DeploymentMode })}
          />
        </Field>
      </div>
      <ResourceFields {...props} />
      <AutoscalingFields {...props} />
      <EnvVarFields {...props} />
      <LoggerFields {...props} />
    </div>
  );
}
