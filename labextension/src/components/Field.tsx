import * as React from 'react';

/** Props that tie an input to its label and its error message, for screen readers. */
export function inputProps(
  id: string,
  error: string | undefined
): { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string } {
  return error
    ? { id, 'aria-invalid': true, 'aria-describedby': `${id}-error` }
    : { id, 'aria-invalid': false };
}

export interface IFieldProps {
  id: string;
  label: string;
  error?: string;
  hint?: string;
  children: React.ReactNode;
}

/** A labelled input with its hint and, when the value is not acceptable, the reason in words. */
export function Field(props: IFieldProps): JSX.Element {
  return (
    <div className="jp-MerlinField">
      <label htmlFor={props.id}>{props.label}</label>
      {props.children}
      {props.error ? (
        <div id={`${props.id}-error`} className="jp-MerlinField-error" role="alert">
          {props.error}
        </div>
      ) : (
        props.hint && <div className="jp-MerlinField-hint">{props.hint}</div>
      )}
    </div>
  );
}

/** The server's refusal, shown above the form it refused (e.g. a name already taken). */
export function FormError(props: { message: string | null }): JSX.Element | null {
  if (!props.message) {
    return null;
  }
  return (
    <div className="jp-MerlinForm-serverError" role="alert">
      {props.message}
    </div>
  );
}

/** What every form in a dialog receives: its value, the reasons it cannot be sent, a setter. */
export interface IFormProps<F> {
  value: F;
  errors: Record<string, string>;
  onChange: (value: F) => void;
}
