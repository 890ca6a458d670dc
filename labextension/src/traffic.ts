/**
 * The state behind a model endpoint's traffic tab: its rule, the versions' metrics over time,
 * its latest rollout and its alerts, fetched every POLL_INTERVAL while the tab is shown.
 */
import { api as restApi, IAlert, IAlertRequest, IMetricsPoint, IModelEndpoint, IRollout, IVersion, MerlinApi, RolloutAction } from './api';
import { PolledModel } from './polledModel';

export class TrafficDetailsModel extends PolledModel {
  constructor(
    readonly modelId: number,
    readonly modelEndpointId: number,
    /** Names for the title: the model's and its project's. */
    readonly modelName: string,
    readonly projectName: string,
    private readonly api: MerlinApi = restApi
  ) {
    super(`merlin-jupyter:traffic:${modelEndpointId}`);
  }

  get modelEndpoint(): IModelEndpoint | null {
    return this._modelEndpoint;
  }

  /** The model's versions, to name the rule's endpoints by their version. */
  get versions(): IVersion[] {
    return this._versions;
  }

  /** The newest rollout of this model endpoint, running or not (null when there was none). */
  get rollout(): IRollout | null {
    return this._rollout;
  }

  get metrics(): IMetricsPoint[] {
    return this._metrics;
  }

  get alerts(): IAlert[] {
    return this._alerts;
  }


  /** Pauses, resumes or aborts the rollout; a refusal is thrown in the server's words. */
  async act(rollout: IRollout, action: RolloutAction): Promise<void> {
    try {
      this._rollout = await this.api.actOnRollout(this.modelId, this.modelEndpointId, rollout.id, action);
      this.emitChanged();
    } finally {
      void this.refresh();
    }
  }

  async createAlert(request: IAlertRequest): Promise<IAlert> {
    const alert = await this.api.createAlert(this.modelId, this.modelEndpointId, request);
    void this.refresh();
    return alert;
  }

  async deleteAlert(alert: IAlert): Promise<void> {
    try {
      await this.api.deleteAlert(this.modelId, this.modelEndpointId, alert.id);
    } finally {
      void this.refresh();
    }
  }

  protected async fetch(): Promise<string | null> {
    const ids = [this.modelId, this.modelEndpointId] as const;
    const [modelEndpoints, versions, rollouts, metrics, alerts] = await Promise.all([
      this.api.modelEndpoints(this.modelId),
      this.api.versions(this.modelId),
      this.api.rollouts(...ids),
      // A scrape that fails (e.g. Prometheus away) leaves the charts empty, not the tab.
      this.api.modelEndpointMetrics(...ids).catch(() => ({ source: 'local', points: [] })),
      this.api.alerts(...ids)
    ]);
    const found = modelEndpoints.find(me => me.id === this.modelEndpointId) ?? null;
    this._modelEndpoint = found;
    this._versions = versions;
    this._rollout = rollouts[0] ?? null;
    this._metrics = metrics.points;
    this._alerts = alerts;
    return found ? null : `Model endpoint ${this.modelEndpointId} is gone: it was stopped or deleted.`;
  }

  private _modelEndpoint: IModelEndpoint | null = null;
  private _versions: IVersion[] = [];
  private _rollout: IRollout | null = null;
  private _metrics: IMetricsPoint[] = [];
  private _alerts: IAlert[] = [];
}
