import { UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { MerlinActions } from './actions';
import { api, ICaller } from './api';
import { PanelView } from './components/PanelView';
import { merlinIcon } from './icons';
import { MerlinModel } from './model';
import { PollingWidget } from './pollingWidget';

/** The left-sidebar widget: renders the model's tree and polls only while it is shown. */
export class MerlinPanel extends PollingWidget<MerlinModel> {
  constructor(
    model: MerlinModel,
    private readonly actions: MerlinActions
  ) {
    super(model);
    this.id = 'merlin-panel';
    this.title.icon = merlinIcon;
    this.title.caption = 'Merlin: models and endpoints';
    this.addClass('jp-MerlinPanel');
    // Asked once: who the control plane takes this user for (shown on a team control plane).
    void api
      .caller()
      .then(caller => {
        this._caller = caller;
        this.update();
      })
      .catch(() => undefined);
  }

  private _caller: ICaller | null = null;

  protected render(): JSX.Element {
    const model = this.model;
    return (
      <UseSignal signal={model.changed}>
        {() => (
          <PanelView
            caller={this._caller}
            rows={model.rows}
            selected={model.selected}
            loaded={model.loaded}
            error={model.error}
            hasProjects={model.data.projects.length > 0}
            actions={this.actions}
            versionsOf={id => model.versions(id)}
            onSelect={key => model.select(key)}
            onToggle={key => void model.toggle(key)}
            onExpand={key => void model.expand(key)}
            onCollapse={key => model.collapse(key)}
          />
        )}
      </UseSignal>
    );
  }
}
