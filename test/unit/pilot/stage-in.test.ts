import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExpectedFile, S3Storage } from '#pilot/s3-storage.ts';
import { parseS3Url, planStageIn, StageInError, stageIn } from '#pilot/stage-in.ts';

/** A storage that records the downloads asked of it. */
function recordingStorage() {
  const downloads: Array<{ key: string; path: string; expected: ExpectedFile; bucket: string | undefined }> =
    [];
  const storage = {
    bucket: 'gluon-tasks',
    downloadFile: async (key: string, path: string, expected: ExpectedFile, bucket?: string) => {
      downloads.push({ key, path, expected, bucket });
    },
  } as unknown as S3Storage;
  return { storage, downloads };
}

describe('planStageIn', () => {
  it('downloads s3:// URLs and inputs/ keys of the task bucket and passes other names through when the job lists them', () => {
    const plan = planStageIn(
      {
        inputs: [
          { name: 's3://hep-data/mc23/EVNT.01.root', adler32: '0a1b2c3d', bytes: 1024 },
          { name: 'inputs/t-1/AOD.02.root' },
          { name: '/eos/atlas/x.root', adler32: 'ffffffff' },
          { name: 'root://eos//y.root', events: 100 },
        ],
      },
      'gluon-tasks',
    );
    expect(plan.downloads).toEqual([
      {
        name: 's3://hep-data/mc23/EVNT.01.root',
        bucket: 'hep-data',
        key: 'mc23/EVNT.01.root',
        localName: 'EVNT.01.root',
        adler32: '0a1b2c3d',
        bytes: 1024,
      },
      {
        name: 'inputs/t-1/AOD.02.root',
        bucket: 'gluon-tasks',
        key: 'inputs/t-1/AOD.02.root',
        localName: 'AOD.02.root',
      },
    ]);
    expect(plan.payloadNames).toEqual([
      'EVNT.01.root',
      'AOD.02.root',
      '/eos/atlas/x.root',
      'root://eos//y.root',
    ]);
  });

  it('plans nothing when the job has no inputs', () => {
    expect(planStageIn({}, 'b')).toEqual({ downloads: [], payloadNames: [] });
    expect(planStageIn({ inputs: [] }, 'b')).toEqual({ downloads: [], payloadNames: [] });
  });

  it.each([
    [['s3://Bad_Bucket/x.root'], 'not a valid bucket name'],
    [['s3://bucket/dir/'], 'not a plain name'],
    [['inputs/a/f.root', 's3://other/b/f.root'], 'same file name f.root'],
  ])('refuses the inputs %o when they cannot be staged in', (names, message) => {
    const job = { inputs: names.map((name) => ({ name })) };
    expect(() => planStageIn(job, 'gluon-tasks')).toThrow(StageInError);
    expect(() => planStageIn(job, 'gluon-tasks')).toThrow(message);
  });
});

describe('parseS3Url', () => {
  it('splits an s3:// URL into bucket and key and refuses anything else', () => {
    expect(parseS3Url('s3://b/k/e/y')).toEqual({ bucket: 'b', key: 'k/e/y' });
    expect(parseS3Url('s3://b')).toBeUndefined();
    expect(parseS3Url('https://b/k')).toBeUndefined();
  });
});

describe('stageIn', () => {
  it('downloads each planned input under its local name with the checksum and size the job gave', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gluon-stage-in-'));
    try {
      const { storage, downloads } = recordingStorage();
      const plan = planStageIn(
        {
          inputs: [
            { name: 's3://hep-data/mc23/EVNT.01.root', adler32: '0a1b2c3d', bytes: 1024 },
            { name: 'inputs/t-1/AOD.02.root' },
          ],
        },
        'gluon-tasks',
      );
      await stageIn(plan, dir, storage);
      expect(downloads).toEqual([
        {
          key: 'mc23/EVNT.01.root',
          path: join(dir, 'EVNT.01.root'),
          expected: { adler32: '0a1b2c3d', bytes: 1024 },
          bucket: 'hep-data',
        },
        {
          key: 'inputs/t-1/AOD.02.root',
          path: join(dir, 'AOD.02.root'),
          expected: {},
          bucket: 'gluon-tasks',
        },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start when the inputs’ known size exceeds the free space of the work area', async () => {
    const { storage, downloads } = recordingStorage();
    const plan = planStageIn({ inputs: [{ name: 'inputs/big.root', bytes: 3 * 2 ** 20 }] }, 'gluon-tasks');
    await expect(stageIn(plan, '/nonexistent', storage, { freeDiskMB: async () => 2 })).rejects.toThrow(
      'the inputs need 3 MB, only 2 MB are free in the work area',
    );
    expect(downloads).toEqual([]);
  });

  it('downloads nothing when the pilot was already asked to stop', async () => {
    const { storage, downloads } = recordingStorage();
    const plan = planStageIn({ inputs: [{ name: 'inputs/a.root' }] }, 'gluon-tasks');
    const stopped = new AbortController();
    stopped.abort();
    await expect(stageIn(plan, '/nonexistent', storage, { signal: stopped.signal })).rejects.toThrow(
      StageInError,
    );
    expect(downloads).toEqual([]);
  });
});
