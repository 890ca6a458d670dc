/**
 * The sidebar tree as data: which rows are shown for what has been fetched and expanded, and
 * where the keyboard moves (the WAI-ARIA tree pattern). Pure, so it is tested without a DOM.
 */
import { IModel, IModelEndpoint, IProject, IVersion, IVersionEndpoint } from './api';

export type NodeKind = 'project' | 'model' | 'traffic' | 'version' | 'endpoint';

export interface ITreeRow {
  /** Stable across refreshes: p:<project>, m:<model>, t:<model endpoint>, v:<model>:<n>, e:<uuid>. */
  key: string;
  kind: NodeKind;
  /** aria-level, 1 for projects. */
  depth: number;
  parent: string | null;
  expandable: boolean;
  expanded: boolean;
  project: IProject;
  model?: IModel;
  version?: IVersion;
  endpoint?: IVersionEndpoint;
  modelEndpoint?: IModelEndpoint;
  /** Said under an expanded row whose children were fetched and are none. */
  empty?: string;
}

export const NO_MODELS = 'No models yet: add one with +, or log one from a notebook.';
export const NO_VERSIONS = 'No versions yet: log one from a notebook (%merlin log).';

export interface ITreeData {
  projects: IProject[];
  /** Models by project id, present once the project was expanded and fetched. */
  models: Map<number, IModel[]>;
  /** Versions by model id, newest first, present once the model was expanded and fetched. */
  versions: Map<number, IVersion[]>;
  expanded: Set<string>;
}

export const projectKey = (p: IProject): string => `p:${p.id}`;
export const modelKey = (m: IModel): string => `m:${m.id}`;
export const versionKey = (v: IVersion): string => `v:${v.model_id}:${v.id}`;
export const endpointKey = (e: IVersionEndpoint): string => `e:${e.id}`;
export const trafficKey = (me: IModelEndpoint): string => `t:${me.id}`;

const ORDER: Record<string, number> = {
  serving: 0,
  running: 1,
  pending: 2,
  failed: 3,
  terminated: 4
};

/** Live endpoints first, so the ones that matter are at the top of a version. */
export function sortEndpoints(endpoints: IVersionEndpoint[]): IVersionEndpoint[] {
  return [...endpoints].sort((a, b) => (ORDER[a.status] ?? 9) - (ORDER[b.status] ?? 9));
}

function versionRows(data: ITreeData, project: IProject, model: IModel, out: ITreeRow[]): void {
  for (const version of data.versions.get(model.id) ?? []) {
    const key = versionKey(version);
    const expanded = data.expanded.has(key);
    out.push({
      key,
      kind: 'version',
      depth: 3,
      parent: modelKey(model),
      expandable: version.endpoints.length > 0,
      expanded,
      project,
      model,
      version
    });
    if (!expanded) {
      continue;
    }
    for (const endpoint of sortEndpoints(version.endpoints)) {
      out.push({
        key: endpointKey(endpoint),
        kind: 'endpoint',
        depth: 4,
        parent: key,
        expandable: false,
        expanded: false,
        project,
        model,
        version,
        endpoint
      });
    }
  }
}

function modelRows(data: ITreeData, project: IProject, out: ITreeRow[]): void {
  const models = data.models.get(project.id);
  if (models && !models.length) {
    out[out.length - 1].empty = NO_MODELS;
  }
  for (const model of models ?? []) {
    const key = modelKey(model);
    const expanded = data.expanded.has(key);
    const row: ITreeRow = { key, kind: 'model', depth: 2, parent: projectKey(project), expandable: true, expanded, project, model };
    out.push(row);
    if (!expanded) {
      continue;
    }
    if (data.versions.get(model.id)?.length === 0) {
      row.empty = NO_VERSIONS;
    }
    for (const modelEndpoint of model.endpoints.filter(me => me.status !== 'terminated')) {
      out.push({
        key: trafficKey(modelEndpoint),
        kind: 'traffic',
        depth: 3,
        parent: key,
        expandable: false,
        expanded: false,
        project,
        model,
        modelEndpoint
      });
    }
    versionRows(data, project, model, out);
  }
}

/** The rows to render, in order. */
export function buildRows(data: ITreeData): ITreeRow[] {
  const out: ITreeRow[] = [];
  for (const project of data.projects) {
    const key = projectKey(project);
    const expanded = data.expanded.has(key);
    out.push({ key, kind: 'project', depth: 1, parent: null, expandable: true, expanded, project });
    if (expanded) {
      modelRows(data, project, out);
    }
  }
  return out;
}

/** What a key press on a focused row does. */
export interface IKeyAction {
  focus?: string;
  expand?: string;
  collapse?: string;
}

/**
 * Arrow keys per the WAI-ARIA tree pattern: Up/Down move, Right expands then enters, Left
 * collapses then goes to the parent, Home/End jump. Returns null for keys it does not own.
 */
export function keyAction(rows: ITreeRow[], current: string | null, key: string): IKeyAction | null {
  const index = rows.findIndex(r => r.key === current);
  const row = index >= 0 ? rows[index] : undefined;
  switch (key) {
    case 'ArrowDown':
      return rows.length ? { focus: rows[Math.min(index + 1, rows.length - 1)].key } : null;
    case 'ArrowUp':
      return rows.length ? { focus: rows[Math.max(index - 1, 0)].key } : null;
    case 'Home':
      return rows.length ? { focus: rows[0].key } : null;
    case 'End':
      return rows.length ? { focus: rows[rows.length - 1].key } : null;
    case 'ArrowRight':
      if (!row || !row.expandable) {
        return null;
      }
      if (!row.expanded) {
        return { expand: row.key };
      }
      return rows[index + 1]?.parent === row.key ? { focus: rows[index + 1].key } : null;
    case 'ArrowLeft':
      if (!row) {
        return null;
      }
      if (row.expandable && row.expanded) {
        return { collapse: row.key };
      }
      return row.parent ? { focus: row.parent } : null;
    default:
      return null;
  }
}

/** "v1 70% · v2 30% · mirror v3", naming endpoints by their version where it is known. */
export function describeRule(modelEndpoint: IModelEndpoint, versions: IVersion[] = []): string {
  const name = (id: string): string => {
    const version = versions.find(v => v.endpoints.some(e => e.id === id));
    return version ? `v${version.id}` : id.slice(0, 8);
  };
  const parts = modelEndpoint.rule.destinations.map(
    d => `${name(d.version_endpoint_id)} ${d.weight}%`
  );
  if (modelEndpoint.rule.mirror?.id) {
    parts.push(`mirror ${name(modelEndpoint.rule.mirror.id)}`);
  }
  return parts.join(' · ');
}
