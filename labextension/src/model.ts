/**
 * The panel's state: what the server has (for the expanded part of the tree), what is
 * expanded and selected, and the last error. It polls while the panel is visible.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { api as restApi, IEnvironment, IModel, IVersion, MerlinApi } from './api';
import { describeError } from './request';
import { buildRows, ITreeData, ITreeRow } from './tree';

/** How often the tree is fetched while the panel is shown (statuses change in about a second). */
export const POLL_INTERVAL = 2000;

export class MerlinModel implements IDisposable {
  constructor(private readonly api: MerlinApi = restApi) {
    this._poll = new Poll({
      auto: false,
      factory: () => this._refreshOrThrow(),
      // Backoff applies only when a refresh fails (server down): then it slows to 30 s.
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 30 * 1000 },
      name: 'merlin-jupyter:tree',
      standby: () => !this._visible || 'when-hidden'
    });
  }

  /** Emitted whenever anything shown in the panel may have changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get data(): Readonly<ITreeData> {
    return this._data;
  }

  get rows(): ITreeRow[] {
    return this._rows;
  }

  get environments(): IEnvironment[] {
    return this._environments;
  }

  /** The last refresh's failure in words, or null when the server answered. */
  get error(): string | null {
    return this._error;
  }

  /** True once the first refresh answered (until then the panel says it is loading). */
  get loaded(): boolean {
    return this._loaded;
  }

  get selected(): string | null {
    return this._selected;
  }

  get selectedRow(): ITreeRow | undefined {
    return this._rows.find(r => r.key === this._selected);
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  /** Starts or pauses polling: a hidden panel costs the server nothing. */
  setVisible(visible: boolean): void {
    this._visible = visible;
    if (visible) {
      void this._poll.start().then(() => this._poll.refresh());
    }
  }

  /** Fetches now; failures land in `error` (and the banner) rather than being thrown. */
  async refresh(): Promise<void> {
    try {
      await this._refreshOrThrow();
    } catch {
      // already recorded in this._error
    }
  }

  select(key: string | null): void {
    if (key !== this._selected) {
      this._selected = key;
      this._changed.emit();
    }
  }

  expand(key: string): Promise<void> {
    this._data.expanded.add(key);
    this._update();
    return this.refresh();
  }

  collapse(key: string): void {
    this._data.expanded.delete(key);
    this._update();
  }

  toggle(key: string): Promise<void> {
    if (this._data.expanded.has(key)) {
      this.collapse(key);
      return Promise.resolve();
    }
    return this.expand(key);
  }

  /** Expands every ancestor of a row-to-be (e.g. after a deploy) and selects it. */
  async reveal(keys: string[], select: string): Promise<void> {
    keys.forEach(k => this._data.expanded.add(k));
    this._selected = select;
    await this.refresh();
  }

  model(modelId: number): IModel | undefined {
    for (const models of this._data.models.values()) {
      const found = models.find(m => m.id === modelId);
      if (found) {
        return found;
      }
    }
    return undefined;
  }

  versions(modelId: number): IVersion[] {
    return this._data.versions.get(modelId) ?? [];
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  private async _refreshOrThrow(): Promise<void> {
    // Overlapping refreshes (the poll and a click) may answer out of order: keep the newest.
    const ticket = ++this._ticket;
    try {
      const next = await this._fetch();
      if (ticket === this._ticket) {
        this._data = { ...next, expanded: this._data.expanded };
        this._error = null;
        this._loaded = true;
        this._update();
      }
    } catch (error) {
      if (ticket === this._ticket) {
        this._error = describeError(error);
        this._update();
      }
      throw error;
    }
  }

  private async _fetch(): Promise<Omit<ITreeData, 'expanded'>> {
    const [projects, environments] = await Promise.all([
      this.api.projects(),
      this._environmentsFresh() ? this._environments : this.api.environments()
    ]);
    if (environments !== this._environments) {
      this._environments = environments;
      this._environmentsAt = Date.now();
    }
    const expanded = this._data.expanded;
    const open = projects.filter(p => expanded.has(`p:${p.id}`));
    const models = new Map<number, IModel[]>(
      await Promise.all(open.map(async p => [p.id, await this.api.models(p.id)] as const))
    );
    const openModels = [...models.values()].flat().filter(m => expanded.has(`m:${m.id}`));
    const versions = new Map<number, IVersion[]>(
      await Promise.all(openModels.map(async m => [m.id, await this.api.versions(m.id)] as const))
    );
    return { projects, models, versions };
  }

  /** Environments change rarely, and the server caches their reachability for 10 s anyway. */
  private _environmentsFresh(): boolean {
    return this._environments.length > 0 && Date.now() - this._environmentsAt < 10 * 1000;
  }

  private _update(): void {
    // The selection is kept even while its row is not shown (e.g. a collapsed parent): commands
    // act on selectedRow, which is undefined then, and the tree focuses its first row instead.
    this._rows = buildRows(this._data);
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
  private _data: ITreeData = { projects: [], models: new Map(), versions: new Map(), expanded: new Set() };
  private _rows: ITreeRow[] = [];
  private _environments: IEnvironment[] = [];
  private _environmentsAt = 0;
  private _error: string | null = null;
  private _loaded = false;
  private _selected: string | null = null;
  private _visible = false;
  private _ticket = 0;
  private _poll: Poll;
}
