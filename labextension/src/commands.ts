/**
 * Palette commands. The ones about one thing act on what is selected in the panel, and are
 * disabled (greyed in the palette) while the selection is of another kind.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { MerlinActions } from './actions';
import { MerlinModel } from './model';
import { NodeKind } from './tree';

export const CommandIDs = {
  open: 'merlin:open',
  refresh: 'merlin:refresh',
  createProject: 'merlin:create-project',
  createModel: 'merlin:create-model',
  deploy: 'merlin:deploy',
  redeploy: 'merlin:redeploy',
  undeploy: 'merlin:undeploy',
  editTraffic: 'merlin:edit-traffic',
  stopServing: 'merlin:stop-serving',
  details: 'merlin:endpoint-details',
  traffic: 'merlin:traffic-details',
  quickstart: 'merlin:open-quickstart'
} as const;

export const CATEGORY = 'Merlin';

export function addCommands(
  app: JupyterFrontEnd,
  model: MerlinModel,
  actions: MerlinActions,
  panelId: string,
  palette: ICommandPalette | null
): void {
  const { commands } = app;
  const selected = () => model.selectedRow;
  const selectedIs = (...kinds: NodeKind[]) => () => kinds.includes(selected()?.kind as NodeKind);

  commands.addCommand(CommandIDs.open, {
    label: 'Show Models and Endpoints',
    caption: 'Open the Merlin panel in the left sidebar',
    execute: () => app.shell.activateById(panelId)
  });
  commands.addCommand(CommandIDs.refresh, { label: 'Refresh', execute: actions.refresh });
  commands.addCommand(CommandIDs.createProject, { label: 'New Project…', execute: actions.createProject });
  commands.addCommand(CommandIDs.createModel, {
    label: 'New Model in Selected Project…',
    isEnabled: () => !!selected(),
    execute: () => actions.createModel(selected())
  });
  commands.addCommand(CommandIDs.deploy, {
    label: 'Deploy Selected Version…',
    isEnabled: selectedIs('version'),
    execute: () => actions.deploy(selected())
  });
  commands.addCommand(CommandIDs.redeploy, {
    label: 'Redeploy Selected Endpoint…',
    isEnabled: selectedIs('endpoint'),
    execute: () => actions.redeploy(selected())
  });
  commands.addCommand(CommandIDs.undeploy, {
    label: 'Undeploy Selected Endpoint…',
    isEnabled: selectedIs('endpoint'),
    execute: () => actions.undeploy(selected())
  });
  commands.addCommand(CommandIDs.editTraffic, {
    label: 'Edit Traffic of Selected Model…',
    isEnabled: selectedIs('model', 'traffic', 'version', 'endpoint'),
    execute: () => actions.editTraffic(selected())
  });
  commands.addCommand(CommandIDs.stopServing, {
    label: 'Stop Serving Traffic of Selected Model Endpoint…',
    isEnabled: selectedIs('traffic'),
    execute: () => actions.stopServing(selected())
  });
  commands.addCommand(CommandIDs.details, {
    label: 'Open Selected Endpoint Details',
    isEnabled: selectedIs('endpoint'),
    execute: () => actions.openDetails(selected())
  });
  commands.addCommand(CommandIDs.traffic, {
    label: 'Open Traffic, Rollout and Alerts of Selected Model Endpoint',
    isEnabled: selectedIs('traffic'),
    execute: () => actions.openTraffic(selected())
  });
  commands.addCommand(CommandIDs.quickstart, {
    label: 'Open the Quickstart Notebook',
    execute: actions.openQuickstart
  });
  // The enabled state follows the panel's selection.
  model.changed.connect(() => commands.notifyCommandChanged());

  for (const command of Object.values(CommandIDs)) {
    palette?.addItem({ command, category: CATEGORY });
  }
}
