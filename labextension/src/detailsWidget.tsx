import { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { EndpointDetails } from './components/EndpointDetails';
import { EndpointDetailsModel } from './details';
import { merlinIcon } from './icons';
import { openTab, PollingWidget } from './pollingWidget';
import { proxyPath } from './snippets';
import { ITreeRow } from './tree';

/** An endpoint's details in a main-area tab; fetches only while the tab is shown. */
export class EndpointDetailsWidget extends PollingWidget<EndpointDetailsModel> {
  constructor(model: EndpointDetailsModel) {
    super(model);
    this.addClass('jp-MerlinDetailsWidget');
  }

  protected render(): JSX.Element {
    const m = this.model;
    return (
      <UseSignal signal={m.changed}>
        {() => (
          <EndpointDetails
            title={`${m.projectName} / ${m.modelName} · version ${m.version} · ${m.endpoint?.environment_name ?? ''}`}
            endpoint={m.endpoint}
            proxyUrl={m.endpoint?.url ? URLExt.join(PageConfig.getBaseUrl(), proxyPath(m.endpointId, m.endpoint.url)) : null}
            logs={m.logs}
            events={m.events}
            requests={m.requests}
            requestsError={m.requestsError}
            metrics={m.metrics}
            error={m.error}
            example={m.example}
            tryIt={body => m.tryIt(body)}
          />
        )}
      </UseSignal>
    );
  }
}

/** Opens (or brings forward) the details tab of the endpoint in `row`. */
export function openEndpointDetails(app: JupyterFrontEnd, row: ITreeRow): void {
  const endpoint = row.endpoint!;
  const create = () =>
    new EndpointDetailsWidget(
      new EndpointDetailsModel(endpoint.model_id, endpoint.version_id, endpoint.id, row.model!.name, row.project.name)
    );
  openTab(app, `merlin-endpoint-${endpoint.id}`, create, {
    label: `${row.model!.name} v${endpoint.version_id} · ${endpoint.environment_name}`,
    caption: `Endpoint ${endpoint.id}`,
    icon: merlinIcon
  });
}
