import * as React from 'react';

import { EndpointStatus } from '../api';

const MEANING: Record<EndpointStatus, string> = {
  pending: 'being deployed',
  running: 'ready, not receiving model-endpoint traffic',
  serving: 'receiving traffic through the model endpoint',
  failed: 'could not be deployed',
  terminated: 'undeployed'
};

/** The endpoint's status in a colour of the current theme, with its meaning as a tooltip. */
export function StatusBadge(props: { status: EndpointStatus; message?: string | null }): JSX.Element {
  const title = props.message ? `${MEANING[props.status]}: ${props.message}` : MEANING[props.status];
  return (
    <span className={`jp-MerlinBadge jp-MerlinBadge-${props.status}`} title={title} data-status={props.status}>
      {props.status}
    </span>
  );
}
