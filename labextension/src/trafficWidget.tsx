import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { alertFormDefaults, describeAlert, IAlertForm, toAlertRequest, validateAlert } from './alertForm';
import { IAlert, IRollout, RolloutAction } from './api';
import { AlertForm } from './components/Alerts';
import { TrafficDetails } from './components/TrafficDetails';
import { formDialog } from './formDialog';
import { trafficIcon } from './icons';
import { openTab, PollingWidget } from './pollingWidget';
import { describeError } from './request';
import { TrafficDetailsModel } from './traffic';
import { ITreeRow } from './tree';

/** A model endpoint's traffic, rollout and alerts in a main-area tab; fetches only while shown. */
export class TrafficDetailsWidget extends PollingWidget<TrafficDetailsModel> {
  constructor(
    model: TrafficDetailsModel,
    /** Called after a change made here (the sidebar shows the rule too). */
    private readonly onChanged: () => void = () => undefined
  ) {
    super(model);
    this.addClass('jp-MerlinDetailsWidget');
  }

  protected render(): JSX.Element {
    const m = this.model;
    return (
      <UseSignal signal={m.changed}>
        {() => (
          <TrafficDetails
            title={`${m.projectName} / ${m.modelName} · traffic in ${m.modelEndpoint?.environment_name ?? ''}`}
            modelEndpoint={m.modelEndpoint}
            versions={m.versions}
            rollout={m.rollout}
            metrics={m.metrics}
            alerts={m.alerts}
            error={m.error}
            busy={this._busy}
            onRolloutAction={(rollout, action) => void this._act(rollout, action)}
            onCreateAlert={() => void this._createAlert()}
            onDeleteAlert={alert => void this._deleteAlert(alert)}
          />
        )}
      </UseSignal>
    );
  }

  private async _act(rollout: IRollout, action: RolloutAction): Promise<void> {
    if (action === 'abort') {
      const answer = await showDialog({
        title: 'Abort the rollout?',
        body: `Rollout ${rollout.id} stops and all traffic goes back to the rule before it ` +
          `(version ${rollout.new_version} keeps running, without model-endpoint traffic).`,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Abort rollout' })]
      });
      if (!answer.button.accept) {
        return;
      }
    }
    this._setBusy(true);
    try {
      await this.model.act(rollout, action);
      this.onChanged();
    } catch (error) {
      await showErrorMessage(`Could not ${action} rollout ${rollout.id}`, describeError(error));
    } finally {
      this._setBusy(false);
    }
  }

  private async _createAlert(): Promise<void> {
    await formDialog<IAlertForm>({
      title: `New alert on ${this.model.modelName} in ${this.model.modelEndpoint?.environment_name ?? ''}`,
      acceptLabel: 'Create',
      initial: alertFormDefaults(),
      validate: validateAlert,
      render: props => <AlertForm {...props} />,
      submit: v => this.model.createAlert(toAlertRequest(v))
    });
  }

  private async _deleteAlert(alert: IAlert): Promise<void> {
    const answer = await showDialog({
      title: 'Delete the alert?',
      body: `Alert ${alert.id} (${describeAlert(alert)}) is deleted and no longer watched.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.model.deleteAlert(alert);
    } catch (error) {
      await showErrorMessage(`Could not delete alert ${alert.id}`, describeError(error));
    }
  }

  private _setBusy(busy: boolean): void {
    this._busy = busy;
    this.update();
  }

  private _busy = false;
}

/** Opens (or brings forward) the traffic tab of the model endpoint in `row`. */
export function openTrafficDetails(app: JupyterFrontEnd, row: ITreeRow, onChanged?: () => void): void {
  const me = row.modelEndpoint!;
  const create = () =>
    new TrafficDetailsWidget(new TrafficDetailsModel(me.model_id, me.id, row.model!.name, row.project.name), onChanged);
  openTab(app, `merlin-traffic-${me.id}`, create, {
    label: `${row.model!.name} traffic · ${me.environment_name}`,
    caption: `Model endpoint ${me.id}: traffic, rollout and alerts`,
    icon: trafficIcon
  });
}
