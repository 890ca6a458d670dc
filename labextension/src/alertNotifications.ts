/**
 * JupyterLab notifications for what the control plane decided by itself: an alert firing or
 * resolving, a rollout rolled back or completed. Read from the event trail every few seconds;
 * only events newer than the first look are shown, so opening JupyterLab replays nothing.
 */
import { Notification } from '@jupyterlab/apputils';
import { Poll } from '@lumino/polling';

import { api, IMerlinEvent } from './api';

export const NOTIFIED_ACTIONS: Record<string, 'warning' | 'success' | 'error' | 'info'> = {
  alert_firing: 'warning',
  alert_resolved: 'success',
  rollout_rolled_back: 'error',
  rollout_completed: 'success'
};

/** The events to notify about, oldest first, and the newest id seen. */
export function newNotable(events: IMerlinEvent[], after: number): { notable: IMerlinEvent[]; newest: number } {
  const newest = events.reduce((max, e) => Math.max(max, e.id), after);
  const notable = events.filter(e => e.id > after && e.action in NOTIFIED_ACTIONS).sort((a, b) => a.id - b.id);
  return { notable, newest };
}

export function startAlertNotifications(interval = 5000): Poll {
  let after: number | null = null;
  const poll = new Poll({
    factory: async () => {
      const events = await api.events({ limit: 50 });
      if (after === null) {
        after = events.reduce((max, e) => Math.max(max, e.id), 0);
        return;
      }
      const { notable, newest } = newNotable(events, after);
      after = newest;
      for (const e of notable) {
        Notification[NOTIFIED_ACTIONS[e.action]](`Merlin: ${e.message}`, { autoClose: e.action === 'alert_firing' ? false : 8000 });
      }
    },
    frequency: { interval, backoff: true, max: 60 * 1000 },
    name: 'merlin-jupyter:notifications',
    standby: 'never'
  });
  return poll;
}
