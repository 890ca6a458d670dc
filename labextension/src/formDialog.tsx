/**
 * A JupyterLab dialog around one of the panel's forms. Mistakes are pointed at next to their
 * field while typing and the accept button stays disabled until there are none; if the server
 * still refuses, the dialog comes back with what was typed and the server's words above it.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { FormError, IFormProps } from './components/Field';
import { describeError } from './request';
import { FormErrors } from './validation';

export interface IFormDialogOptions<F> {
  title: string;
  acceptLabel: string;
  initial: F;
  validate: (value: F) => FormErrors;
  render: (props: IFormProps<F>) => JSX.Element;
  /** Sends the value; a rejection reopens the dialog showing why. */
  submit: (value: F) => Promise<unknown>;
  /** For changes that take something away (e.g. traffic off a live endpoint). */
  warn?: boolean;
}

function FormView<F>(props: {
  options: IFormDialogOptions<F>;
  value: F;
  showErrors: boolean;
  serverError: string | null;
  onChange: (value: F) => void;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const errors = props.options.validate(props.value);
  const invalid = Object.keys(errors).length > 0;
  React.useEffect(() => {
    // The dialog owns its buttons; the form only says whether accepting makes sense now.
    const dialog = ref.current?.closest('.jp-Dialog-content');
    const accept = dialog?.querySelector<HTMLButtonElement>('.jp-Dialog-button.jp-mod-accept');
    if (accept) {
      accept.disabled = invalid;
    }
  });
  return (
    <div ref={ref} className="jp-MerlinDialog">
      <FormError message={props.serverError} />
      {props.options.render({
        value: props.value,
        errors: props.showErrors ? errors : {},
        onChange: props.onChange
      })}
    </div>
  );
}

class FormBody<F> extends ReactWidget implements Dialog.IBodyWidget<F> {
  constructor(
    private readonly options: IFormDialogOptions<F>,
    private value: F,
    private readonly serverError: string | null,
    private showErrors: boolean
  ) {
    super();
    this.addClass('jp-MerlinDialog-body');
  }

  getValue(): F {
    return this.value;
  }

  protected render(): JSX.Element {
    return (
      <FormView
        options={this.options}
        value={this.value}
        showErrors={this.showErrors}
        serverError={this.serverError}
        onChange={value => {
          this.value = value;
          // Errors appear once something was typed, not on a fresh empty form.
          this.showErrors = true;
          this.update();
        }}
      />
    );
  }
}

/** Shows the form until it is sent successfully (true) or cancelled (false). */
export async function formDialog<F>(options: IFormDialogOptions<F>): Promise<boolean> {
  let value = options.initial;
  let serverError: string | null = null;
  let attempted = false;
  for (;;) {
    const body = new FormBody(options, value, serverError, attempted);
    const result = await showDialog<F>({
      title: options.title,
      body,
      focusNodeSelector: 'input, select',
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: options.acceptLabel, displayType: options.warn ? 'warn' : 'default' })
      ]
    });
    if (!result.button.accept) {
      return false;
    }
    value = result.value ?? value;
    attempted = true;
    serverError = null;
    // Enter submits even while the button is disabled: check again rather than trust it.
    if (Object.keys(options.validate(value)).length) {
      continue;
    }
    try {
      await options.submit(value);
      return true;
    } catch (error) {
      serverError = describeError(error);
    }
  }
}
