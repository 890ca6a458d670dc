/**
 * The state behind an endpoint's details tab: the endpoint, its latest log lines and its
 * events, fetched every POLL_INTERVAL while the tab is visible; and the "try it" call.
 */
import { api, ILoggedRequest, IMerlinEvent, IMetricsPoint, IVersionEndpoint } from './api';
import { PolledModel } from './polledModel';
import { describeError, errorFromBody, fetchServer } from './request';
import { exampleBody, IV2Metadata, proxyPath, servedModelName } from './snippets';

/** What one "try it" request gave back. */
export interface ITryResult {
  status: number;
  statusText: string;
  /** Milliseconds from sending to the whole answer, through Jupyter's proxy. */
  latency: number;
  body: string;
}

/** How many of the latest logged requests the Requests tab shows. */
export const REQUESTS_SHOWN = 50;

export class EndpointDetailsModel extends PolledModel {
  constructor(
    readonly modelId: number,
    readonly version: number,
    readonly endpointId: string,
    /** Names for the title: the model's and its project's. */
    readonly modelName: string,
    readonly projectName: string
  ) {
    super(`merlin-jupyter:endpoint:${endpointId}`);
  }

  get endpoint(): IVersionEndpoint | null {
    return this._endpoint;
  }

  get logs(): string[] {
    return this._logs;
  }

  get events(): IMerlinEvent[] {
    return this._events;
  }

  /** The latest logged requests (empty unless the endpoint logs them), newest first. */
  get requests(): ILoggedRequest[] {
    return this._requests;
  }

  /** Why the requests could not be read, if they could not. */
  get requestsError(): string | null {
    return this._requestsError;
  }

  /** The endpoint's metrics over the last 15 minutes (empty when none were measured). */
  get metrics(): IMetricsPoint[] {
    return this._metrics;
  }

  /** A request body built from the model's signature, once the endpoint has answered. */
  get example(): string | null {
    return this._example;
  }

  /** Sends `body` to the endpoint through Jupyter's authenticated proxy and times it. */
  async tryIt(body: string): Promise<ITryResult> {
    const endpoint = this._endpoint;
    if (!endpoint?.url) {
      throw new Error('This endpoint has no URL yet: wait until it is running.');
    }
    const started = performance.now();
    const response = await fetchServer(proxyPath(endpoint.id, endpoint.url), {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/json' }
    });
    const text = await response.text();
    const latency = performance.now() - started;
    return { status: response.status, statusText: response.statusText, latency, body: pretty(text) };
  }

  protected async fetch(): Promise<string | null> {
    const [endpoint, logs, events, metrics] = await Promise.all([
      api.endpoint(this.modelId, this.version, this.endpointId),
      api.logs(this.modelId, this.version, this.endpointId, 200).catch(error => ({
        logs: [`(logs unavailable: ${describeError(error)})`]
      })),
      api.events({ entity_id: this.endpointId, limit: 20 }),
      api.metrics(this.modelId, this.version, this.endpointId).catch(() => ({ source: 'local', points: [] }))
    ]);
    this._metrics = metrics.points;
    this._endpoint = endpoint;
    this._logs = logs.logs;
    this._events = events;
    await this._fetchRequests(endpoint);
    if (this._example === null && endpoint.url && isUp(endpoint)) {
      await this._loadExample(endpoint);
    }
    return null;
  }

  private async _fetchRequests(endpoint: IVersionEndpoint): Promise<void> {
    if (!endpoint.logger?.model?.enabled && !this._requests.length) {
      return; // never logged: nothing to ask for on every poll
    }
    try {
      const found = await api.requests(this.modelId, this.version, this.endpointId, { limit: REQUESTS_SHOWN });
      this._requests = found.requests;
      this._requestsError = null;
    } catch (error) {
      this._requestsError = describeError(error);
    }
  }

  /** The V2 metadata names the model's inputs; a guess beats an empty box. */
  private async _loadExample(endpoint: IVersionEndpoint): Promise<void> {
    const name = servedModelName(endpoint.url!);
    let metadata: IV2Metadata | null = null;
    if (name) {
      const response = await fetchServer(`merlin/serve/endpoints/${endpoint.id}/v2/models/${name}`);
      const text = await response.text();
      if (response.ok) {
        metadata = JSON.parse(text) as IV2Metadata;
      } else {
        console.warn('merlin-jupyter: no model metadata:', errorFromBody(response.status, response.statusText, text).message);
      }
    }
    this._example = JSON.stringify(exampleBody(metadata));
  }

  private _endpoint: IVersionEndpoint | null = null;
  private _logs: string[] = [];
  private _events: IMerlinEvent[] = [];
  private _requests: ILoggedRequest[] = [];
  private _requestsError: string | null = null;
  private _metrics: IMetricsPoint[] = [];
  private _example: string | null = null;
}

export function isUp(endpoint: IVersionEndpoint): boolean {
  return endpoint.status === 'running' || endpoint.status === 'serving';
}

function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
