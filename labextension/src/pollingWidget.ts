import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { LabIcon, ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';

/** A model that polls the server only while something shows it. */
export interface IPollingModel {
  setVisible(visible: boolean): void;
  dispose(): void;
}

/**
 * A React widget over a polling model: the model polls while the widget is shown and stops
 * when it is hidden or closed, so a collapsed sidebar or a background tab costs no requests.
 */
export abstract class PollingWidget<M extends IPollingModel> extends ReactWidget {
  constructor(readonly model: M) {
    super();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.setVisible(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.setVisible(false);
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }
}

/** How a details tab is titled. */
export interface ITabTitle {
  label: string;
  caption: string;
  icon: LabIcon;
}

/** Brings the main-area tab `id` forward, or opens it with what `create` makes (one per id). */
export function openTab(app: JupyterFrontEnd, id: string, create: () => ReactWidget, title: ITabTitle): void {
  for (const widget of app.shell.widgets('main')) {
    if (widget.id === id) {
      app.shell.activateById(id);
      return;
    }
  }
  const widget = new MainAreaWidget({ content: create() });
  widget.id = id;
  widget.title.label = title.label;
  widget.title.caption = title.caption;
  widget.title.icon = title.icon;
  widget.title.closable = true;
  app.shell.add(widget, 'main');
  app.shell.activateById(id);
}
