/**
 * A details tab's state, fetched every POLL_INTERVAL while the tab is visible: the poll, the
 * changed signal and the error a failed fetch leaves, shared by the endpoint and traffic tabs.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { POLL_INTERVAL } from './model';
import { describeError } from './request';

export abstract class PolledModel implements IDisposable {
  /** `name` names the poll (one per tab, so two tabs never share one). */
  constructor(name: string) {
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 30 * 1000 },
      name,
      standby: () => !this._visible || 'when-hidden'
    });
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Why the last fetch failed, in words (null when it did not). */
  get error(): string | null {
    return this._error;
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

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** Fetches the tab's state; resolves to the error to show, or null when all is well. */
  protected abstract fetch(): Promise<string | null>;

  /** Fetches again now (after an action, so the tab does not wait for the next poll). */
  protected refresh(): Promise<void> {
    return this._poll.refresh();
  }

  protected emitChanged(): void {
    this._changed.emit();
  }

  private async _tick(): Promise<void> {
    try {
      this._error = await this.fetch();
    } catch (error) {
      this._error = describeError(error);
      throw error; // the poll backs off
    } finally {
      this._changed.emit();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _error: string | null = null;
  private _visible = false;
  private _poll: Poll;
}
