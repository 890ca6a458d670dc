import { addIcon, Button, refreshIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ICaller, IVersion } from '../api';
import { merlinIcon } from '../icons';
import { ITreeRow } from '../tree';
import { ITreeActions, Tree } from './Tree';

/** The notebook the empty panel points to (relative to the server's root, as `make lab` runs). */
export const QUICKSTART = '01-quickstart.ipynb';

export interface IPanelViewProps {
  /** Shown when the control plane is a team's: whose projects these are. */
  caller?: ICaller | null;
  rows: ITreeRow[];
  selected: string | null;
  loaded: boolean;
  error: string | null;
  hasProjects: boolean;
  actions: ITreeActions & {
    createProject(): void;
    refresh(): void;
    openQuickstart(): void;
  };
  versionsOf: (modelId: number) => IVersion[];
  onSelect: (key: string) => void;
  onToggle: (key: string) => void;
  onExpand: (key: string) => void;
  onCollapse: (key: string) => void;
}

function EmptyState(props: { openQuickstart: () => void; createProject: () => void }): JSX.Element {
  return (
    <div className="jp-MerlinPanel-empty">
      <merlinIcon.react tag="div" className="jp-MerlinPanel-emptyIcon" />
      <p>
        <strong>No projects yet.</strong>
      </p>
      <p>
        Train a model, log it as a version and deploy it from a notebook: the quickstart does all
        three in a minute. What it creates shows up here, live.
      </p>
      <Button className="jp-MerlinPanel-quickstart" onClick={props.openQuickstart}>
        Open 01-quickstart.ipynb
      </Button>
      <Button minimal onClick={props.createProject}>
        <addIcon.react tag="span" /> New project
      </Button>
    </div>
  );
}

/** The sidebar: a header with its commands, the server's error if any, then the tree. */
export function PanelView(props: IPanelViewProps): JSX.Element {
  const { actions } = props;
  return (
    <div className="jp-MerlinPanel-content">
      <div className="jp-MerlinPanel-header">
        <h2>Merlin</h2>
        <Button minimal small title="New project" aria-label="New project" onClick={actions.createProject}>
          <addIcon.react tag="span" />
        </Button>
        <Button minimal small title="Refresh" aria-label="Refresh" onClick={actions.refresh}>
          <refreshIcon.react tag="span" />
        </Button>
      </div>
      {props.caller?.team_mode && (
        <div className="jp-MerlinPanel-caller" title="The team's control plane knows you by this name">
          Team control plane, as <strong>{props.caller.name}</strong>
          {props.caller.hub_admin ? ' (hub admin)' : ''}
        </div>
      )}
      {props.error && (
        <div className="jp-MerlinPanel-error" role="alert">
          {props.error}
        </div>
      )}
      {!props.loaded && !props.error && <div className="jp-MerlinPanel-loading">Loading projects…</div>}
      {props.loaded && !props.hasProjects && (
        <EmptyState openQuickstart={actions.openQuickstart} createProject={actions.createProject} />
      )}
      {props.hasProjects && (
        <Tree
          rows={props.rows}
          selected={props.selected}
          actions={actions}
          versionsOf={props.versionsOf}
          onSelect={props.onSelect}
          onToggle={props.onToggle}
          onExpand={props.onExpand}
          onCollapse={props.onCollapse}
        />
      )}
    </div>
  );
}
