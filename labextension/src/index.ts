import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin,
  ILayoutRestorer
} from '@jupyterlab/application';
import { Widget } from '@lumino/widgets';

/**
 * The Merlin sidebar panel (placeholder until the panel lands).
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'merlin-jupyter:panel',
  description: 'Merlin model serving panel',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new Widget();
    panel.id = 'merlin-panel';
    panel.title.caption = 'Merlin';
    panel.title.label = 'Merlin';
    panel.addClass('jp-MerlinPanel');
    panel.node.textContent = 'Merlin: open notebooks/01-quickstart.ipynb to deploy a model.';
    app.shell.add(panel, 'left', { rank: 900 });
    if (restorer) {
      restorer.add(panel, 'merlin-panel');
    }
  }
};

export default plugin;
