import { ReactWidget } from '@jupyterlab/ui-components';
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
