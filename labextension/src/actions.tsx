/**
 * What the panel's buttons and the palette commands do: each opens a dialog or asks for
 * confirmation, calls the API, then refreshes and reveals what changed. Failures are shown
 * in the API's own words.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import * as React from 'react';

import { api, IModel, IProject, IVersionEndpoint, MODEL_TYPES } from './api';
import { DeployForm } from './components/DeployForm';
import { INameForm, NameForm } from './components/NameForm';
import { TrafficForm } from './components/TrafficForm';
import { formDialog } from './formDialog';
import { MerlinModel } from './model';
import { describeError } from './request';
import { endpointKey, ITreeRow, modelKey, projectKey, versionKey } from './tree';
import {
  deployFormDefaults,
  IDeployForm,
  ITrafficForm,
  modelNameError,
  projectNameError,
  toDeployRequest,
  toTrafficRule,
  validateDeploy,
  validateTraffic
} from './validation';

/** Opens the details of an endpoint (a main-area tab); provided by the plugin. */
export type OpenDetails = (row: ITreeRow) => void;

export class MerlinActions {
  constructor(
    private readonly model: MerlinModel,
    private readonly openDetailsTab: OpenDetails,
    private readonly openFile: () => Promise<void>,
    private readonly openTrafficTab: OpenDetails = () => undefined
  ) {}

  createProject = async (): Promise<void> => {
    let created: IProject | undefined;
    const done = await formDialog<INameForm>({
      title: 'New project',
      acceptLabel: 'Create',
      initial: { name: '' },
      validate: v => this._nameErrors(projectNameError(v.name)),
      render: props => <NameForm {...props} label="Project name" placeholder="food-recommendation" />,
      submit: async v => (created = await api.createProject(v.name))
    });
    if (done && created) {
      await this.model.reveal([projectKey(created)], projectKey(created));
    }
  };

  createModel = async (row?: ITreeRow): Promise<void> => {
    const project = row?.project;
    if (!project) {
      return this._explain('New model', 'Select a project in the Merlin panel first.');
    }
    let created: IModel | undefined;
    const done = await formDialog<INameForm>({
      title: `New model in ${project.name}`,
      acceptLabel: 'Create',
      initial: { name: '', type: 'sklearn' },
      validate: v => this._nameErrors(modelNameError(v.name)),
      render: props => (
        <NameForm {...props} label="Model name" placeholder="churn-model" types={MODEL_TYPES} />
      ),
      submit: async v => (created = await api.createModel(project.id, v.name, v.type ?? 'pyfunc'))
    });
    if (done && created) {
      await this.model.reveal([projectKey(project), modelKey(created)], modelKey(created));
    }
  };

  deploy = async (row?: ITreeRow): Promise<void> => {
    const version = row?.version;
    if (!row?.model || !version || row.kind !== 'version') {
      return this._explain('Deploy', 'Select a version in the Merlin panel first.');
    }
    const environments = await this._environments();
    const initial = deployFormDefaults(environments.find(e => e.is_default) ?? environments[0]);
    let created: IVersionEndpoint | undefined;
    const done = await this._deployDialog(
      `Deploy ${row.model.name} version ${version.id}`,
      'Deploy',
      initial,
      false,
      async v => (created = await api.deploy(row.model!.id, version.id, toDeployRequest(v)))
    );
    if (done && created) {
      const keys = [projectKey(row.project), modelKey(row.model), versionKey(version)];
      await this.model.reveal(keys, endpointKey(created));
    }
  };

  redeploy = async (row?: ITreeRow): Promise<void> => {
    const endpoint = row?.endpoint;
    if (!row?.model || !endpoint) {
      return this._explain('Redeploy', 'Select an endpoint in the Merlin panel first.');
    }
    const environments = await this._environments();
    const environment = environments.find(e => e.name === endpoint.environment_name);
    const done = await this._deployDialog(
      `Redeploy ${row.model.name} version ${endpoint.version_id} in ${endpoint.environment_name}`,
      'Redeploy',
      deployFormDefaults(environment, endpoint),
      true,
      v => api.redeploy(endpoint.model_id, endpoint.version_id, endpoint.id, toDeployRequest(v))
    );
    if (done) {
      await this.model.refresh();
    }
  };

  undeploy = async (row?: ITreeRow): Promise<void> => {
    const endpoint = row?.endpoint;
    if (!row?.model || !endpoint) {
      return this._explain('Undeploy', 'Select an endpoint in the Merlin panel first.');
    }
    const what = `${row.model.name} version ${endpoint.version_id} in ${endpoint.environment_name}`;
    const answer = await showDialog({
      title: 'Undeploy?',
      body:
        `Undeploy ${what}? Its server stops and its URL stops answering. ` +
        'The version and its MLflow run are kept, so it can be deployed again.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Undeploy' })]
    });
    if (answer.button.accept) {
      await this._call(`Could not undeploy ${what}`, () =>
        api.undeploy(endpoint.model_id, endpoint.version_id, endpoint.id)
      );
    }
  };

  editTraffic = async (row?: ITreeRow): Promise<void> => {
    const model = row?.model;
    if (!row || !model) {
      return this._explain('Edit traffic', 'Select a model in the Merlin panel first.');
    }
    const [environments, versions] = await Promise.all([this._environments(), api.versions(model.id)]);
    const current = row.modelEndpoint ?? model.endpoints.find(me => me.status !== 'terminated');
    const environment = current?.environment_name ?? environments.find(e => e.is_default)?.name ?? 'local';
    const live = model.endpoints.filter(me => me.status !== 'terminated');
    const initial: ITrafficForm = {
      environment,
      destinations: (current?.rule.destinations ?? []).map(d => ({
        endpointId: d.version_endpoint_id,
        weight: String(d.weight)
      })),
      mirror: current?.rule.mirror?.id ?? ''
    };
    const endpoints = versions.flatMap(v => v.endpoints);
    const done = await formDialog<ITrafficForm>({
      title: `Traffic of ${model.name}`,
      acceptLabel: 'Apply',
      initial,
      validate: v => validateTraffic(v, endpoints),
      render: props => (
        <TrafficForm {...props} environments={environments} versions={versions}
          existing={live.map(me => me.environment_name)} />
      ),
      submit: v => {
        const existing = live.find(me => me.environment_name === v.environment);
        return api.serveTraffic(model.id, v.environment, toTrafficRule(v), existing?.id);
      }
    });
    if (done) {
      await this.model.reveal([projectKey(row.project), modelKey(model)], modelKey(model));
    }
  };

  stopServing = async (row?: ITreeRow): Promise<void> => {
    const me = row?.modelEndpoint;
    if (!row?.model || !me) {
      return this._explain('Stop serving', 'Select a model endpoint in the Merlin panel first.');
    }
    const answer = await showDialog({
      title: 'Stop serving traffic?',
      body: `${row.model.name}'s URL in ${me.environment_name} stops answering; its version endpoints keep running.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop serving' })]
    });
    if (answer.button.accept) {
      await this._call('Could not stop serving traffic', () => api.stopServing(me.model_id, me.id));
    }
  };

  openDetails = (row?: ITreeRow): void => {
    if (!row?.endpoint) {
      void this._explain('Endpoint details', 'Select an endpoint in the Merlin panel first.');
      return;
    }
    this.openDetailsTab(row);
  };

  openTraffic = (row?: ITreeRow): void => {
    if (!row?.modelEndpoint) {
      void this._explain('Traffic, rollout and alerts', 'Select a model endpoint (a traffic row) in the Merlin panel first.');
      return;
    }
    this.openTrafficTab(row);
  };

  refresh = (): void => {
    void this.model.refresh();
  };

  openQuickstart = (): void => {
    void this.openFile().catch(error =>
      showErrorMessage('Could not open the quickstart', describeError(error))
    );
  };

  private _deployDialog(
    title: string,
    acceptLabel: string,
    initial: IDeployForm,
    fixedEnvironment: boolean,
    submit: (v: IDeployForm) => Promise<unknown>
  ): Promise<boolean> {
    const environments = this.model.environments;
    return formDialog<IDeployForm>({
      title,
      acceptLabel,
      initial,
      validate: v => validateDeploy(v, environments),
      render: props => (
        <DeployForm {...props} environments={environments} fixedEnvironment={fixedEnvironment} />
      ),
      submit
    });
  }

  private async _environments() {
    if (!this.model.environments.length) {
      await this.model.refresh();
    }
    return this.model.environments;
  }

  private _nameErrors(error: string | null): Record<string, string> {
    return error ? { name: error } : {};
  }

  /** Runs one API call; on failure says what failed and the server's reason; then refreshes. */
  private async _call(what: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      await showErrorMessage(what, describeError(error));
    }
    await this.model.refresh();
  }

  private async _explain(title: string, message: string): Promise<void> {
    await showDialog({ title, body: message, buttons: [Dialog.okButton()] });
  }
}
