import { buildRows, describeRule, ITreeData, keyAction, NO_MODELS, NO_VERSIONS, sortEndpoints } from '../tree';
import { endpoint, model, modelEndpoint, project, version } from './fixtures';

function data(expanded: string[]): ITreeData {
  const e1 = endpoint('e1-aaaaaaaa', 1, 'terminated');
  const e2 = endpoint('e2-bbbbbbbb', 1, 'serving');
  const me = modelEndpoint(5, { destinations: [{ version_endpoint_id: 'e2-bbbbbbbb', weight: 100 }] });
  const gone = modelEndpoint(6, { destinations: [] }, 'terminated');
  return {
    projects: [project(1), project(2, 'other')],
    models: new Map([[1, [model(10, 1, [me, gone])]]]),
    versions: new Map([[10, [version(2), version(1, [e1, e2])]]]),
    expanded: new Set(expanded)
  };
}

describe('tree rows', () => {
  it('shows only projects until one is expanded', () => {
    expect(buildRows(data([])).map(r => r.key)).toEqual(['p:1', 'p:2']);
  });

  it('nests models, live model endpoints, versions and their endpoints, live ones first', () => {
    const rows = buildRows(data(['p:1', 'm:10', 'v:10:1']));
    expect(rows.map(r => `${r.depth}${r.kind[0]}:${r.key}`)).toEqual([
      '1p:p:1',
      '2m:m:10',
      '3t:t:5',
      '3v:v:10:2',
      '3v:v:10:1',
      '4e:e:e2-bbbbbbbb',
      '4e:e:e1-aaaaaaaa',
      '1p:p:2'
    ]);
    const v2 = rows.find(r => r.key === 'v:10:2')!;
    expect(v2.expandable).toBe(false);
    expect(rows.find(r => r.key === 'e:e2-bbbbbbbb')!.parent).toBe('v:10:1');
  });

  it('says so under an expanded project or model that has nothing yet', () => {
    const d = data(['p:1', 'm:10']);
    d.models.set(2, []);
    d.expanded.add('p:2');
    d.versions.set(10, []);
    const rows = buildRows(d);
    expect(rows.find(r => r.key === 'p:2')!.empty).toBe(NO_MODELS);
    expect(rows.find(r => r.key === 'm:10')!.empty).toBe(NO_VERSIONS);
    expect(rows.find(r => r.key === 'p:1')!.empty).toBeUndefined();
  });

  it('orders endpoints serving, running, pending, failed, terminated', () => {
    const sorted = sortEndpoints(['terminated', 'failed', 'pending', 'serving', 'running'].map((s, i) => endpoint(`e${i}`, 1, s as never)));
    expect(sorted.map(e => e.status)).toEqual(['serving', 'running', 'pending', 'failed', 'terminated']);
  });
});

describe('keyboard (WAI-ARIA tree)', () => {
  const rows = buildRows(data(['p:1', 'm:10']));

  it('moves with Up, Down, Home and End, staying within the rows', () => {
    expect(keyAction(rows, 'p:1', 'ArrowDown')).toEqual({ focus: 'm:10' });
    expect(keyAction(rows, 'p:1', 'ArrowUp')).toEqual({ focus: 'p:1' });
    expect(keyAction(rows, 'm:10', 'End')).toEqual({ focus: 'p:2' });
    expect(keyAction(rows, 'p:2', 'ArrowDown')).toEqual({ focus: 'p:2' });
    expect(keyAction(rows, 'p:2', 'Home')).toEqual({ focus: 'p:1' });
  });

  it('expands then enters with Right, collapses then climbs with Left', () => {
    expect(keyAction(rows, 'p:2', 'ArrowRight')).toEqual({ expand: 'p:2' });
    expect(keyAction(rows, 'p:1', 'ArrowRight')).toEqual({ focus: 'm:10' });
    expect(keyAction(rows, 'm:10', 'ArrowLeft')).toEqual({ collapse: 'm:10' });
    expect(keyAction(rows, 't:5', 'ArrowLeft')).toEqual({ focus: 'm:10' });
    expect(keyAction(rows, 'p:1', 'ArrowLeft')).toEqual({ collapse: 'p:1' });
    expect(keyAction(rows, 'p:1', 'a')).toBeNull();
  });
});

describe('rules in words', () => {
  it('names destinations by version and adds the mirror', () => {
    const me = modelEndpoint(5, {
      destinations: [{ version_endpoint_id: 'e2', weight: 70 }, { version_endpoint_id: 'unknown-id', weight: 30 }],
      mirror: { id: 'e3' }
    });
    const versions = [version(2, [endpoint('e2', 2)]), version(3, [endpoint('e3', 3)])];
    expect(describeRule(me, versions)).toBe('v2 70% · unknown- 30% · mirror v3');
  });
});
