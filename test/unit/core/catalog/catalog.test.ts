import { describe, expect, it } from 'vitest';
import { RegisterFilesRequestSchema } from '#core/api/catalog.ts';
import { SCOPES } from '#core/api/common.ts';
import type { StorageEndpoint } from '#core/catalog/catalog.ts';
import { defaultOutputDataset, outputFileName, parseDidText, userScope } from '#core/catalog/did.ts';
import { metadataFilterOf } from '#core/catalog/manage-catalog.ts';
import { replicaUrl } from '#core/catalog/register-files.ts';
import { jobIndexOfKey, outputDatasetOf } from '#core/catalog/register-outputs.ts';
import { mayWriteScope } from '#core/catalog/scopes.ts';
import { fieldIssues } from '#core/errors.ts';
import { attemptPrefix } from '#core/storage/object-keys.ts';
import { inMemoryDeps } from '#test/support/in-memory-ports.ts';

describe('DIDs and scopes', () => {
  it("names users' scopes from their token subjects", () => {
    expect(userScope('alice')).toBe('user.alice');
    expect(userScope('Alice@CERN.ch')).toBe('user.alice-cern.ch');
    expect(userScope('local-user')).toBe('user.local-user');
    expect(userScope('---')).toBe('user.anonymous');
    expect(userScope('x'.repeat(64)).length).toBe(30);
  });

  it('parses scope:name and says what is wrong', () => {
    expect(parseDidText('user.alice:zmumu.0001.root')).toEqual({
      scope: 'user.alice',
      name: 'zmumu.0001.root',
    });
    expect(parseDidText('no-colon')).toMatch(/no ":"/);
    expect(parseDidText('user.alice:../etc')).toMatch(/a name/);
    expect(parseDidText(':x')).toMatch(/a scope/);
  });

  it('names task outputs and their dataset', () => {
    expect(outputFileName('zmumu', 't-abc123', 7, 'events.root')).toBe('zmumu.t-abc123._000007.events.root');
    expect(defaultOutputDataset('user.alice', 'zmumu')).toEqual({
      scope: 'user.alice',
      name: 'zmumu.output',
    });
    expect(outputDatasetOf('alice', { name: 'zmumu' })).toEqual({
      scope: 'user.alice',
      name: 'zmumu.output',
    });
    expect(outputDatasetOf('alice', { name: 'zmumu', outputDataset: 'group.higgs:h4l' })).toEqual({
      scope: 'group.higgs',
      name: 'h4l',
    });
    expect(jobIndexOfKey(`${attemptPrefix('t-abc123', 12, 2)}merged.root`)).toBe(12);
    expect(jobIndexOfKey('tasks/t-abc123/ranges/3/p-x.a1/out.root')).toBeUndefined();
  });

  it('lets a user write in their own scope and in scopes naming them; operators anywhere', async () => {
    const deps = inMemoryDeps();
    await deps.catalog.putScope({ scope: 'group.higgs', owners: ['alice'], createdAt: 'now' });
    const alice = { sub: 'alice', admin: false };
    expect(await mayWriteScope(deps, alice, 'user.alice')).toBe(true);
    expect(await mayWriteScope(deps, alice, 'group.higgs')).toBe(true);
    expect(await mayWriteScope(deps, alice, 'user.bob')).toBe(false);
    expect(await mayWriteScope(deps, { sub: 'bob', admin: false }, 'group.higgs')).toBe(false);
    expect(await mayWriteScope(deps, { sub: 'op', admin: true }, 'user.bob')).toBe(true);
    expect(SCOPES.admin).toBe('gluon.admin');
  });
});

describe('registration requests', () => {
  const file = { name: 'f.root', bytes: 1, adler32: '0000abcd' };
  const fields = (body: unknown): string[] => {
    const parsed = RegisterFilesRequestSchema.safeParse(body);
    return parsed.success ? [] : fieldIssues(parsed.error.issues).map((i) => i.field);
  };

  it('takes a manifest or a listing, one of them', () => {
    expect(fields({ endpoint: 'DATA-A', files: [file] })).toEqual([]);
    expect(fields({ endpoint: 'DATA-A', fromListing: {} })).toEqual([]);
    expect(fields({ endpoint: 'DATA-A' })).toEqual(['files']);
    expect(fields({ endpoint: 'DATA-A', files: [file], fromListing: {} })).toEqual(['files']);
  });

  it('names each bad field of a manifest', () => {
    expect(fields({ endpoint: 'data-a', files: [file] })).toEqual(['endpoint']);
    expect(fields({ endpoint: 'DATA-A', files: [{ ...file, adler32: 'ABCDEF01' }] })).toEqual([
      'files.0.adler32',
    ]);
    expect(fields({ endpoint: 'DATA-A', files: [{ ...file, key: '/abs' }] })).toEqual(['files.0.key']);
    expect(fields({ endpoint: 'DATA-A', files: [{ ...file, key: 'a', url: 'root://x/y' }] })).toEqual([
      'files.0.url',
    ]);
    expect(fields({ endpoint: 'DATA-A', files: [{ ...file, metadata: { '1bad': 1 } }] })).toEqual([
      'files.0.metadata.1bad',
    ]);
    expect(fields({ endpoint: 'DATA-A', files: [file], extra: 1 })).toEqual(['extra']);
    expect(fields({ endpoint: 'DATA-A', fromListing: { prefix: '../up/' } })).toEqual(['fromListing.prefix']);
    expect(
      fields({
        endpoint: 'DATA-A',
        files: Array.from({ length: 1001 }, (_, i) => ({ ...file, name: `f${i}` })),
      }),
    ).toEqual(['files']);
  });

  it('makes replica URLs under the endpoint prefix', () => {
    const s3: StorageEndpoint = {
      endpointId: 'DATA-A',
      kind: 's3',
      bucket: 'data-a',
      prefix: 'mc/',
      sites: [],
      readable: true,
      writable: true,
    };
    expect(replicaUrl(s3, 'run1/f.root')).toBe('s3://data-a/mc/run1/f.root');
    const url: StorageEndpoint = {
      endpointId: 'EOS',
      kind: 'url',
      urlRoot: 'root://eos.example.org//eos',
      prefix: 'data/',
      sites: [],
      readable: true,
      writable: true,
    };
    expect(replicaUrl(url, 'f.root')).toBe('root://eos.example.org//eos/data/f.root');
  });

  it('reads meta.<key> filters, digits as numbers', () => {
    expect(
      metadataFilterOf({
        scope: 'user.a',
        limit: 10,
        'meta.runNumber': '358031',
        'meta.dataType': 'AOD',
        'meta.v': '01',
      }),
    ).toEqual({
      runNumber: 358031,
      dataType: 'AOD',
      v: '01',
    });
  });
});
