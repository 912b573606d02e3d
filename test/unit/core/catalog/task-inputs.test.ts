import { describe, expect, it } from 'vitest';
import type { CatalogFileRecord, Replica } from '#core/catalog/catalog.ts';
import {
  closeness,
  describeCloseness,
  type EndpointFacts,
  replicaOrder,
  resolveFiles,
} from '#core/catalog/task-inputs.ts';
import { ValidationError } from '#core/errors.ts';
import { jobAt, jobCount } from '#core/tasks/split-task.ts';
import { parseTaskSpec, type TaskSpecInput, withResolvedInputs } from '#core/tasks/task-spec.ts';

const AT = '2026-12-01T10:00:00.000Z';

function file(name: string, metadata: Record<string, string | number> = {}, events = 10): CatalogFileRecord {
  return {
    scope: 'user.alice',
    name,
    bytes: 100,
    adler32: '0000abcd',
    events,
    metadata,
    registeredBy: 'alice',
    createdAt: AT,
  };
}

function replica(name: string, endpointId: string, state: Replica['state'] = 'available'): Replica {
  return {
    scope: 'user.alice',
    name,
    endpointId,
    state,
    url: `s3://${endpointId.toLowerCase()}/${name}`,
    updatedAt: AT,
  };
}

const ENDPOINTS = new Map<string, EndpointFacts>([
  ['DATA-A', { endpointId: 'DATA-A', sites: ['site-a'], readable: true }],
  ['DATA-B', { endpointId: 'DATA-B', sites: ['site-b'], readable: true }],
  ['DOWN', { endpointId: 'DOWN', sites: ['site-a'], readable: false }],
]);

function issuesOf(input: Partial<TaskSpecInput>): Array<{ field: string; message: string }> {
  try {
    parseTaskSpec({ name: 'reco', payload: { command: 'reco' }, ...input });
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  return [];
}

describe('the dataset input of a task spec', () => {
  it('takes a dataset with its options', () => {
    const spec = parseTaskSpec({
      name: 'reco',
      payload: { command: 'reco' },
      inputs: {
        dataset: 'user.alice:zmumu-gen.output',
        filter: { runNumber: 358031 },
        untilClosed: true,
        remoteRead: false,
        rule: { endpoints: ['DATA-B'], copies: 1 },
      },
      split: { filesPerJob: 2 },
    });
    expect(spec.inputs?.dataset).toBe('user.alice:zmumu-gen.output');
    expect(spec.inputs?.files).toBeUndefined();
  });

  it.each<[string, Partial<TaskSpecInput>, string]>([
    ['a DID without a scope', { inputs: { dataset: 'zmumu' } }, 'spec.inputs.dataset'],
    ['files and a dataset', { inputs: { files: ['a'], dataset: 'user.a:d' } }, 'spec.inputs.dataset'],
    ['neither files nor a dataset', { inputs: {} }, 'spec.inputs.dataset'],
    ['a filter without a dataset', { inputs: { files: ['a'], filter: { run: 1 } } }, 'spec.inputs.filter'],
    [
      'remoteRead without a dataset',
      { inputs: { files: ['a'], remoteRead: true } },
      'spec.inputs.remoteRead',
    ],
    ['a bad filter key', { inputs: { dataset: 'user.a:d', filter: { '1x': 1 } } }, 'spec.inputs.filter.1x'],
    [
      'a rule without endpoints',
      { inputs: { dataset: 'user.a:d', rule: { endpoints: [] } } },
      'spec.inputs.rule.endpoints',
    ],
    [
      'a rule with a bad endpoint',
      { inputs: { dataset: 'user.a:d', rule: { endpoints: ['bad id'] } } },
      'spec.inputs.rule.endpoints.0',
    ],
    ['an unknown field', { inputs: { dataset: 'user.a:d', site: 'x' } as never }, 'spec.inputs.site'],
    [
      'untilClosed with scouts',
      { inputs: { dataset: 'user.a:d', untilClosed: true }, split: { targetWalltimeSec: 60 } },
      'spec.inputs.untilClosed',
    ],
  ])('refuses %s, naming the field', (_what, input, field) => {
    const issues = issuesOf(input);
    expect(issues.map((i) => i.field)).toContain(field);
    expect(issues.every((i) => i.message !== 'Invalid input')).toBe(true);
  });
});

describe('resolveFiles', () => {
  const files = [file('f3', { run: 1 }), file('f1', { run: 2 }), file('f2', { run: 1 })];
  const replicas = new Map([
    ['user.alice:f3', [replica('f3', 'DATA-A'), replica('f3', 'DATA-B', 'corrupt'), replica('f3', 'DOWN')]],
    ['user.alice:f1', [replica('f1', 'DATA-B')]],
  ]);

  it('keeps attach order, applies the filter, and keeps only available replicas at readable endpoints', () => {
    const resolved = resolveFiles(files, replicas, ENDPOINTS, { run: 1 });
    expect(resolved).toEqual([
      {
        name: 'user.alice:f3',
        bytes: 100,
        adler32: '0000abcd',
        events: 10,
        replicas: [{ endpointId: 'DATA-A', url: 's3://data-a/f3' }],
      },
      { name: 'user.alice:f2', bytes: 100, adler32: '0000abcd', events: 10, replicas: [] },
    ]);
  });

  it('skips files resolved before', () => {
    const resolved = resolveFiles(files, replicas, ENDPOINTS, undefined, new Set(['user.alice:f3']));
    expect(resolved.map((f) => f.name)).toEqual(['user.alice:f1', 'user.alice:f2']);
  });

  it('treats the results bucket as readable even though no endpoint record lists it', () => {
    const results = new Map([['user.alice:f1', [replica('f1', 'GLUON-RESULTS')]]]);
    expect(resolveFiles([file('f1')], results, new Map(), undefined)[0]?.replicas).toHaveLength(1);
  });
});

describe('replicaOrder', () => {
  const endpoints = { 'DATA-A': ['site-a'], 'DATA-B': ['site-b'] };
  const replicas = [
    { endpointId: 'DATA-B', url: 's3://b/f' },
    { endpointId: 'DATA-A', url: 's3://a/f' },
    { endpointId: 'GLUON-RESULTS', url: 's3://r/f' },
  ];

  it('puts replicas close to the site first and leaves out the rest without remote read', () => {
    expect(replicaOrder(replicas, endpoints, 'site-a', false).map((r) => r.endpointId)).toEqual([
      'DATA-A',
      'GLUON-RESULTS',
    ]);
  });

  it('adds the others after them with remote read', () => {
    expect(replicaOrder(replicas, endpoints, 'site-a', true).map((r) => r.endpointId)).toEqual([
      'DATA-A',
      'GLUON-RESULTS',
      'DATA-B',
    ]);
  });
});

describe('closeness', () => {
  it('counts the files and bytes close to a site and names the endpoints that decided', () => {
    const files = [
      { bytes: 10, replicas: [{ endpointId: 'DATA-A', url: 's3://a/1' }] },
      { bytes: 30, replicas: [{ endpointId: 'DATA-B', url: 's3://b/2' }] },
    ];
    const c = closeness(files, { 'DATA-A': ['site-a'], 'DATA-B': ['site-b'] }, 'site-a');
    expect(c).toEqual({ files: 2, bytes: 40, closeFiles: 1, closeBytes: 10, endpoints: ['DATA-A'] });
    expect(describeCloseness('site-a', c, false)).toBe('site-a: 1/2 files at DATA-A (close)');
    expect(describeCloseness('site-c', closeness(files, {}, 'site-c'), false)).toBe(
      'site-c: 0/2 files close, remote read not allowed',
    );
  });
});

describe('splitting a dataset task', () => {
  const spec = parseTaskSpec({
    name: 'reco',
    payload: { command: 'reco' },
    inputs: { dataset: 'user.alice:d', untilClosed: true },
    split: { filesPerJob: 2 },
  });
  const files = ['a', 'b', 'c'].map((n) => ({
    name: `user.alice:${n}`,
    bytes: 1,
    adler32: '00000001',
    events: 5,
    replicas: [{ endpointId: 'DATA-A', url: `s3://a/${n}` }],
  }));

  it('has no jobs before its files are resolved', () => {
    expect(jobCount(spec)).toBe(0);
  });

  it('cuts only whole jobs while the dataset is open, and the last one once it is closed', () => {
    const open = withResolvedInputs(spec, { files, endpoints: {}, closed: false });
    expect(jobCount(open)).toBe(1);
    const closed = withResolvedInputs(spec, { files, endpoints: {}, closed: true });
    expect(jobCount(closed)).toBe(2);
    expect(jobAt(closed, 1)).toEqual({
      jobIndex: 1,
      inputs: [
        { name: 'user.alice:c', adler32: '00000001', bytes: 1, events: 5, replicas: files[2]?.replicas },
      ],
      nEvents: 5,
    });
    // A job's inputs are the same whether read before or after the closing.
    expect(jobAt(open, 0)).toEqual(jobAt(closed, 0));
  });
});
