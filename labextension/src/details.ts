/**
 * The state behind an endpoint's details tab: the endpoint, its latest log lines and its
 * events, fetched every POLL_INTERVAL while the tab is visible; and the "try it" call.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { api, IMerlinEvent, IVersionEndpoint } from './api';
import { POLL_INTERVAL } from './model';
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

export class EndpointDetailsModel implements IDisposable {
  constructor(
    readonly modelId: number,
    readonly version: number,
    readonly endpointId: string,
    /** Names for the title: the model's and its project's. */
    readonly modelName: string,
    readonly projectName: string
  ) {
    this._poll = new Poll({
      auto: false,
      factory: () => this._fetch(),
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 30 * 1000 },
      name: `merlin-jupyter:endpoint:${endpointId}`,
      standby: () => !this._visible || 'when-hidden'
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
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

  get error(): string | null {
    return this._error;
  }

  /** A request body built from the model's signature, once the endpoint has answered. */
  get example(): string | null {
    return this._example;
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  setVisible(visible: boolean): void {
    this._visible = visible;
    if (visible) {
      void this._poll.start().then(() => this._poll.refresh());
    }
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

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _fetch(): Promise<void> {
    try {
      const [endpoint, logs, events] = await Promise.all([
        api.endpoint(this.modelId, this.version, this.endpointId),
        api.logs(this.modelId, this.version, this.endpointId, 200).catch(error => ({
          logs: [`(logs unavailable: ${describeError(error)})`]
        })),
        api.events({ entity_id: this.endpointId, limit: 20 })
      ]);
      this._endpoint = endpoint;
      this._logs = logs.logs;
      this._events = events;
      this._error = null;
      if (this._example === null && endpoint.url && isUp(endpoint)) {
        await this._loadExample(endpoint);
      }
    } catch (error) {
      this._error = describeError(error);
      throw error;
    } finally {
      this._changed.emit();
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

  private _changed = new Signal<this, void>(this);
  private _endpoint: IVersionEndpoint | null = null;
  private _logs: string[] = [];
  private _events: IMerlinEvent[] = [];
  private _error: string | null = null;
  private _example: string | null = null;
  private _visible = false;
  private _poll: Poll;
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
