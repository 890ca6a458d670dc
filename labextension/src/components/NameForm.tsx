import { HTMLSelect, InputGroup } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Field, IFormProps, inputProps } from './Field';

export interface INameForm {
  name: string;
  /** The model type; absent for a project. */
  type?: string;
}

export interface INameFormProps extends IFormProps<INameForm> {
  /** What is being named, e.g. "Project name". */
  label: string;
  placeholder: string;
  /** Offered model types; when given, a type selector is shown. */
  types?: readonly string[];
}

/** The create-project and create-model form: a name, and for a model its type. */
export function NameForm(props: INameFormProps): JSX.Element {
  const { value, errors, onChange } = props;
  return (
    <div className="jp-MerlinForm">
      <Field id="merlin-name" label={props.label} error={errors.name}>
        <InputGroup
          {...inputProps('merlin-name', errors.name)}
          value={value.name}
          placeholder={props.placeholder}
          autoFocus
          spellCheck={false}
          onChange={e => onChange({ ...value, name: e.currentTarget.value.trim() })}
        />
      </Field>
      {props.types && (
        <Field id="merlin-model-type" label="Model type" error={errors.type}>
          <HTMLSelect
            {...inputProps('merlin-model-type', errors.type)}
            value={value.type}
            options={[...props.types]}
            onChange={e => onChange({ ...value, type: e.currentTarget.value })}
          />
        </Field>
      )}
    </div>
  );
}
