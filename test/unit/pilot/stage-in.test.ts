import { describe, expect, it } from 'vitest';
import { parseS3Url, planStageIn, StageInError } from '#pilot/stage-in.ts';

describe('planStageIn', () => {
  it('downloads s3:// URLs and inputs/ keys of the task bucket, and passes other names through', () => {
    const plan = planStageIn(
      {
        inputFiles: [
          's3://hep-data/mc23/EVNT.01.root',
          'inputs/t-1/AOD.02.root',
          '/eos/atlas/x.root',
          'root://eos//y.root',
        ],
        inputs: [
          { name: 's3://hep-data/mc23/EVNT.01.root', adler32: '0a1b2c3d', bytes: 1024 },
          { name: '/eos/atlas/x.root', adler32: 'ffffffff' },
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

  it('has nothing to do for a job without inputs', () => {
    expect(planStageIn({}, 'b')).toEqual({ downloads: [], payloadNames: [] });
  });

  it.each([
    [['s3://Bad_Bucket/x.root'], 'not a valid bucket name'],
    [['s3://bucket/dir/'], 'not a plain name'],
    [['inputs/a/f.root', 's3://other/b/f.root'], 'same file name f.root'],
  ])('refuses %o', (inputFiles, message) => {
    expect(() => planStageIn({ inputFiles }, 'gluon-tasks')).toThrow(StageInError);
    expect(() => planStageIn({ inputFiles }, 'gluon-tasks')).toThrow(message);
  });

  it('parses S3 URLs', () => {
    expect(parseS3Url('s3://b/k/e/y')).toEqual({ bucket: 'b', key: 'k/e/y' });
    expect(parseS3Url('s3://b')).toBeUndefined();
    expect(parseS3Url('https://b/k')).toBeUndefined();
  });
});
