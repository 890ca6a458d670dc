import {
  addIcon,
  Button,
  caretDownIcon,
  caretRightIcon,
  deleteIcon,
  editIcon,
  folderIcon,
  infoIcon,
  LabIcon,
  refreshIcon,
  runIcon,
  stopIcon
} from '@jupyterlab/ui-components';
import * as React from 'react';

import { IVersion } from '../api';
import { modelIcon, trafficIcon } from '../icons';
import { describeRule, ITreeRow, keyAction } from '../tree';
import { StatusBadge } from './StatusBadge';

/** What the buttons of a row do; the panel wires them to dialogs and the API. */
export interface ITreeActions {
  createModel(row: ITreeRow): void;
  editTraffic(row: ITreeRow): void;
  stopServing(row: ITreeRow): void;
  deploy(row: ITreeRow): void;
  openDetails(row: ITreeRow): void;
  openTraffic(row: ITreeRow): void;
  redeploy(row: ITreeRow): void;
  undeploy(row: ITreeRow): void;
}

export interface ITreeProps {
  rows: ITreeRow[];
  selected: string | null;
  actions: ITreeActions;
  versionsOf: (modelId: number) => IVersion[];
  onSelect: (key: string) => void;
  onToggle: (key: string) => void;
  onExpand: (key: string) => void;
  onCollapse: (key: string) => void;
}

interface IAction {
  label: string;
  icon: LabIcon;
  run: () => void;
  disabled?: boolean;
}

function rowActions(row: ITreeRow, actions: ITreeActions): IAction[] {
  const on = (f: (row: ITreeRow) => void) => () => f(row);
  switch (row.kind) {
    case 'project':
      return [{ label: 'New model', icon: addIcon, run: on(actions.createModel) }];
    case 'model':
      return [{ label: 'Edit traffic', icon: trafficIcon, run: on(actions.editTraffic) }];
    case 'traffic':
      return [
        { label: 'Traffic, rollout and alerts', icon: infoIcon, run: on(actions.openTraffic) },
        { label: 'Edit traffic', icon: editIcon, run: on(actions.editTraffic) },
        { label: 'Stop serving traffic', icon: stopIcon, run: on(actions.stopServing) }
      ];
    case 'version':
      return [{ label: 'Deploy', icon: runIcon, run: on(actions.deploy) }];
    case 'endpoint': {
      const terminated = row.endpoint?.status === 'terminated';
      return [
        { label: 'Details, try it and logs', icon: infoIcon, run: on(actions.openDetails) },
        { label: 'Redeploy', icon: refreshIcon, run: on(actions.redeploy), disabled: terminated },
        { label: 'Undeploy', icon: deleteIcon, run: on(actions.undeploy), disabled: terminated }
      ];
    }
  }
}

/** Opens the tab of an endpoint or a model endpoint (Enter, double click); false for other rows. */
function openTab(actions: ITreeActions, row: ITreeRow): boolean {
  if (row.kind === 'endpoint') {
    actions.openDetails(row);
  } else if (row.kind === 'traffic') {
    actions.openTraffic(row);
  } else {
    return false;
  }
  return true;
}

function RowLabel(props: { row: ITreeRow; versionsOf: ITreeProps['versionsOf'] }): JSX.Element {
  const { row } = props;
  switch (row.kind) {
    case 'project':
      return <><folderIcon.react tag="span" className="jp-MerlinTree-icon" /><span className="jp-MerlinTree-name">{row.project.name}</span></>;
    case 'model':
      return (
        <>
          <modelIcon.react tag="span" className="jp-MerlinTree-icon" />
          <span className="jp-MerlinTree-name">{row.model!.name}</span>
          <span className="jp-MerlinTree-meta">{row.model!.type}</span>
        </>
      );
    case 'traffic': {
      const me = row.modelEndpoint!;
      return (
        <>
          <trafficIcon.react tag="span" className="jp-MerlinTree-icon" />
          <span className="jp-MerlinTree-name">{me.environment_name}</span>
          <StatusBadge status={me.status} />
          <span className="jp-MerlinTree-meta jp-MerlinTree-rule" title={me.url ?? undefined}>
            {describeRule(me, props.versionsOf(row.model!.id))}
          </span>
        </>
      );
    }
    case 'version': {
      const version = row.version!;
      const labels = Object.entries(version.labels).map(([k, v]) => `${k}=${v}`).join(' ');
      return (
        <>
          <span className="jp-MerlinTree-name">v{version.id}</span>
          <span className="jp-MerlinTree-meta" title={`MLflow run ${version.mlflow_run_id}`}>
            {labels || `run ${version.mlflow_run_id.slice(0, 8)}`}
          </span>
        </>
      );
    }
    case 'endpoint': {
      const endpoint = row.endpoint!;
      return (
        <>
          <StatusBadge status={endpoint.status} message={endpoint.message} />
          <span className="jp-MerlinTree-name">{endpoint.environment_name}</span>
          <span className="jp-MerlinTree-meta" title={endpoint.message ?? endpoint.id}>
            {endpoint.status === 'failed' && endpoint.message ? endpoint.message : `rev ${endpoint.revision ?? 1} · ${endpoint.id.slice(0, 8)}`}
          </span>
        </>
      );
    }
  }
}

/** What a row is called in its buttons' accessible names, e.g. "churn version 2 in local". */
export function rowName(row: ITreeRow): string {
  switch (row.kind) {
    case 'project':
      return row.project.name;
    case 'model':
      return row.model!.name;
    case 'traffic':
      return `${row.model!.name} traffic in ${row.modelEndpoint!.environment_name}`;
    case 'version':
      return `${row.model!.name} version ${row.version!.id}`;
    case 'endpoint':
      return `${row.model!.name} version ${row.endpoint!.version_id} in ${row.endpoint!.environment_name}`;
  }
}

function Row(props: ITreeProps & { row: ITreeRow; focusable: boolean; rowRef: (el: HTMLDivElement | null) => void }): JSX.Element {
  const { row } = props;
  const name = rowName(row);
  return (
    <div
      ref={props.rowRef}
      role="treeitem"
      aria-level={row.depth}
      aria-expanded={row.expandable ? row.expanded : undefined}
      aria-selected={props.selected === row.key}
      tabIndex={props.focusable ? 0 : -1}
      data-key={row.key}
      data-kind={row.kind}
      className={`jp-MerlinTree-row jp-MerlinTree-${row.kind}${props.selected === row.key ? ' jp-mod-selected' : ''}`}
      style={{ paddingLeft: `${(row.depth - 1) * 14 + 4}px` }}
      onClick={() => props.onSelect(row.key)}
      onDoubleClick={() => (openTab(props.actions, row) || (row.expandable && props.onToggle(row.key)))}
    >
      <span
        className="jp-MerlinTree-caret"
        aria-hidden="true"
        onClick={e => {
          e.stopPropagation();
          props.onSelect(row.key);
          props.onToggle(row.key);
        }}
      >
        {row.expandable && (row.expanded ? <caretDownIcon.react tag="span" /> : <caretRightIcon.react tag="span" />)}
      </span>
      <RowLabel row={row} versionsOf={props.versionsOf} />
      <span className="jp-MerlinTree-actions">
        {rowActions(row, props.actions).map(action => (
          <Button
            key={action.label}
            minimal
            small
            tabIndex={props.focusable ? 0 : -1}
            title={action.label}
            aria-label={`${action.label} (${name})`}
            disabled={action.disabled}
            onKeyDown={e => e.stopPropagation()}
            onClick={e => {
              e.stopPropagation();
              props.onSelect(row.key);
              action.run();
            }}
          >
            <action.icon.react tag="span" />
          </Button>
        ))}
      </span>
    </div>
  );
}

/**
 * Projects → models → (model endpoints, versions) → endpoints, as an ARIA tree: one row is
 * in the tab order (the selected one), arrows move between rows, Enter opens or toggles.
 */
export function Tree(props: ITreeProps): JSX.Element {
  const refs = React.useRef(new Map<string, HTMLDivElement>());
  const container = React.useRef<HTMLDivElement>(null);
  const focusKey = props.rows.some(r => r.key === props.selected) ? props.selected : props.rows[0]?.key;
  React.useEffect(() => {
    // Follow the selection with focus only while the keyboard is in the tree.
    if (focusKey && container.current?.contains(document.activeElement)) {
      const el = refs.current.get(focusKey);
      if (el && document.activeElement !== el && !el.contains(document.activeElement)) {
        el.focus();
      }
    }
  }, [focusKey]);
  const onKeyDown = (event: React.KeyboardEvent) => {
    const current = focusKey ?? null;
    const row = props.rows.find(r => r.key === current);
    if ((event.key === 'Enter' || event.key === ' ') && row) {
      event.preventDefault();
      if (!openTab(props.actions, row) && row.expandable) {
        props.onToggle(row.key);
      }
      return;
    }
    const action = keyAction(props.rows, current, event.key);
    if (!action) {
      return;
    }
    event.preventDefault();
    if (action.focus) {
      props.onSelect(action.focus);
      refs.current.get(action.focus)?.focus();
    }
    if (action.expand) {
      props.onExpand(action.expand);
    }
    if (action.collapse) {
      props.onCollapse(action.collapse);
    }
  };
  return (
    <div ref={container} role="tree" aria-label="Merlin projects, models, versions and endpoints" className="jp-MerlinTree" onKeyDown={onKeyDown}>
      {props.rows.map(row => (
        <React.Fragment key={row.key}>
          <Row
            {...props}
            row={row}
            focusable={row.key === focusKey}
            rowRef={el => (el ? refs.current.set(row.key, el) : refs.current.delete(row.key))}
          />
          {row.empty && (
            <div role="none" className="jp-MerlinTree-hint" style={{ paddingLeft: `${row.depth * 14 + 24}px` }}>
              {row.empty}
            </div>
          )}
        </React.Fragment>
      ))}
    </div>
  );
}
