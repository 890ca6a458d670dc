import { MerlinApi } from '../api';
import { MerlinModel } from '../model';
import { environment, model as aModel, project, version } from './fixtures';

/** A fake API counting calls; each method can be replaced per test. */
function fakeApi(overrides: Partial<MerlinApi> = {}) {
  const calls: string[] = [];
  const api = {
    projects: async () => (calls.push('projects'), [project(1), project(2, 'other')]),
    environments: async () => (calls.push('environments'), [environment()]),
    models: async (projectId: number) => (calls.push(`models ${projectId}`), projectId === 1 ? [aModel(10, 1)] : []),
    versions: async (modelId: number) => (calls.push(`versions ${modelId}`), [version(1)]),
    ...overrides
  } as unknown as MerlinApi;
  return { api, calls };
}

describe('MerlinModel', () => {
  it('fetches only the expanded part of the tree', async () => {
    const { api, calls } = fakeApi();
    const m = new MerlinModel(api);
    await m.refresh();
    expect(m.loaded).toBe(true);
    expect(m.rows.map(r => r.key)).toEqual(['p:1', 'p:2']);
    expect(calls.sort()).toEqual(['environments', 'projects']);

    await m.expand('p:1');
    await m.expand('m:10');
    expect(m.rows.map(r => r.key)).toEqual(['p:1', 'm:10', 'v:10:1', 'p:2']);
    expect(calls.filter(c => c.startsWith('models'))).toEqual(['models 1', 'models 1']);
    expect(calls).toContain('versions 10');
    expect(m.model(10)?.name).toBe('churn');
    m.dispose();
  });

  it('asks for environments at most every 10 s', async () => {
    const { api, calls } = fakeApi();
    const m = new MerlinModel(api);
    await m.refresh();
    await m.refresh();
    expect(calls.filter(c => c === 'environments')).toHaveLength(1);
    expect(m.environments[0].name).toBe('local');
    m.dispose();
  });

  it('keeps the error in words and clears it once the server answers', async () => {
    let down = true;
    const { api } = fakeApi({
      projects: async () => {
        if (down) {
          throw new Error('Cannot reach the Jupyter server');
        }
        return [project()];
      }
    });
    const m = new MerlinModel(api);
    let changes = 0;
    m.changed.connect(() => changes++);
    await m.refresh();
    expect(m.error).toBe('Cannot reach the Jupyter server');
    expect(m.loaded).toBe(false);
    down = false;
    await m.refresh();
    expect(m.error).toBeNull();
    expect(m.rows).toHaveLength(1);
    expect(changes).toBe(2);
    m.dispose();
  });

  it('keeps the newest answer when refreshes overlap', async () => {
    const answers: ((p: ReturnType<typeof project>[]) => void)[] = [];
    const { api } = fakeApi({ projects: () => new Promise(resolve => answers.push(resolve)) });
    const m = new MerlinModel(api);
    const first = m.refresh();
    const second = m.refresh();
    await new Promise(r => setTimeout(r, 0));
    answers[1]([project(2, 'newest')]);
    await second;
    answers[0]([project(1, 'stale')]);
    await first;
    expect(m.data.projects.map(p => p.name)).toEqual(['newest']);
    m.dispose();
  });

  it('selects, collapses and reveals', async () => {
    const { api } = fakeApi();
    const m = new MerlinModel(api);
    await m.reveal(['p:1', 'm:10'], 'v:10:1');
    expect(m.selectedRow?.kind).toBe('version');
    m.collapse('m:10');
    expect(m.selectedRow).toBeUndefined();
    expect(m.selected).toBe('v:10:1');
    await m.toggle('m:10');
    expect(m.selectedRow?.version?.id).toBe(1);
    m.dispose();
  });
});
