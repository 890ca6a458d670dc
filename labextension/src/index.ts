import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { MerlinActions } from './actions';
import { startAlertNotifications } from './alertNotifications';
import { addCommands } from './commands';
import { QUICKSTART } from './components/PanelView';
import { openEndpointDetails } from './detailsWidget';
import { openTrafficDetails } from './trafficWidget';
import { MerlinModel } from './model';
import { MerlinPanel } from './panel';

/**
 * Opens the quickstart notebook: at the server root when JupyterLab runs in notebooks/ (as
 * `make lab` does), else under notebooks/ when it runs in the repository.
 */
async function openQuickstart(app: JupyterFrontEnd): Promise<void> {
  for (const path of [QUICKSTART, `notebooks/${QUICKSTART}`]) {
    try {
      await app.serviceManager.contents.get(path, { content: false });
    } catch {
      continue;
    }
    await app.commands.execute('docmanager:open', { path });
    return;
  }
  throw new Error(
    `${QUICKSTART} is not under this server's root folder: start JupyterLab with \`make lab\` ` +
      '(it serves notebooks/), or open notebooks/01-quickstart.ipynb from the repository.'
  );
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'merlin-jupyter:panel',
  description: 'Merlin model serving: projects, models, versions and endpoints in the sidebar',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null, palette: ICommandPalette | null) => {
    const model = new MerlinModel();
    const actions = new MerlinActions(
      model,
      row => openEndpointDetails(app, row),
      () => openQuickstart(app),
      row => openTrafficDetails(app, row, () => void model.refresh())
    );
    const panel = new MerlinPanel(model, actions);
    app.shell.add(panel, 'left', { rank: 900 });
    restorer?.add(panel, 'merlin-panel');
    addCommands(app, model, actions, panel.id, palette);
    startAlertNotifications();
  }
};

export default plugin;
